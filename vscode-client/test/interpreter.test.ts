import * as assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  configuredPath,
  interpreterFromExecCommand,
  resolveProjectInterpreter,
  resolveServerInterpreter,
} from "../src/interpreter";

describe("configuredPath", () => {
  it("treats null, non-strings and blank strings as unset", () => {
    for (const value of [null, undefined, 3, "", "   ", ["python"]]) {
      assert.equal(configuredPath(value), undefined, JSON.stringify(value));
    }
  });

  it("expands ~, ${userHome} and ${workspaceFolder}", () => {
    const context = { home: "/home/ana", workspaceFolder: "/work/proj" };
    assert.equal(configuredPath("~/py/bin/python", context), "/home/ana/py/bin/python");
    assert.equal(configuredPath("${userHome}/p", context), "/home/ana/p");
    assert.equal(configuredPath("${workspaceFolder}/.venv/bin/python", context), "/work/proj/.venv/bin/python");
    // A ~ inside a path is a literal character, not the home directory.
    assert.equal(configuredPath("/opt/a~b/python", context), "/opt/a~b/python");
  });

  it("trims surrounding whitespace", () => {
    assert.equal(configuredPath("  /usr/bin/python3 "), "/usr/bin/python3");
  });
});

describe("resolveServerInterpreter", () => {
  it("prefers the setting", () => {
    assert.deepEqual(resolveServerInterpreter("/s/python", "/ext/python"), {
      path: "/s/python",
      source: "setting",
    });
  });

  it("falls back to the Python extension", () => {
    assert.deepEqual(resolveServerInterpreter(null, "/ext/python"), {
      path: "/ext/python",
      source: "python-extension",
    });
  });

  it("falls back to python3", () => {
    assert.deepEqual(resolveServerInterpreter("", undefined), { path: "python3", source: "default" });
    assert.deepEqual(resolveServerInterpreter(undefined, ""), { path: "python3", source: "default" });
  });
});

describe("resolveProjectInterpreter", () => {
  it("prefers the setting, then the Python extension, else null for the server to decide", () => {
    assert.equal(resolveProjectInterpreter("/s/python", "/ext/python"), "/s/python");
    assert.equal(resolveProjectInterpreter(null, "/ext/python"), "/ext/python");
    assert.equal(resolveProjectInterpreter(null, undefined), null);
    assert.equal(
      resolveProjectInterpreter("${workspaceFolder}/.venv/bin/python", undefined, { workspaceFolder: "/w" }),
      "/w/.venv/bin/python",
    );
  });
});

describe("interpreterFromExecCommand", () => {
  it("takes a single executable", () => {
    assert.equal(interpreterFromExecCommand(["/venv/bin/python"]), "/venv/bin/python");
  });

  it("refuses wrapper commands and empty answers", () => {
    assert.equal(interpreterFromExecCommand(["conda", "run", "-n", "x", "python"]), undefined);
    assert.equal(interpreterFromExecCommand([]), undefined);
    assert.equal(interpreterFromExecCommand(undefined), undefined);
    assert.equal(interpreterFromExecCommand([" "]), undefined);
  });
});
