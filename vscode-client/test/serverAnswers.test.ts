import * as assert from "node:assert/strict";
import { describe, it } from "node:test";

import { reportPath } from "../src/serverAnswers";

describe("reportPath", () => {
  it("reads the path of a showReport answer", () => {
    assert.equal(
      reportPath({ uri: "perfrl-report:/x", markdown: "# r", path: "/cache/reports/x.md" }),
      "/cache/reports/x.md",
    );
  });

  it("is undefined for no answer or an answer without a path", () => {
    for (const answer of [null, undefined, "x", 3, {}, { path: "" }, { path: 7 }, { uri: "a" }]) {
      assert.equal(reportPath(answer), undefined, JSON.stringify(answer));
    }
  });
});
