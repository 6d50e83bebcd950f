import * as assert from "node:assert/strict";
import { describe, it } from "node:test";

import { parseHottestCount } from "../src/hottestCount";

describe("parseHottestCount", () => {
  it("accepts 1 to 50", () => {
    assert.equal(parseHottestCount("5"), 5);
    assert.equal(parseHottestCount(" 50 "), 50);
    assert.equal(parseHottestCount("1"), 1);
  });

  it("refuses anything else", () => {
    for (const answer of [undefined, "", "0", "51", "-3", "2.5", "five", "5 functions"]) {
      assert.equal(parseHottestCount(answer), undefined, String(answer));
    }
  });
});
