import * as assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  buildServerLaunch,
  installCommand,
  interpretProbe,
  MIN_PYTHON,
  probeArgs,
  PROBE_SCRIPT,
} from "../src/serverCommand";

const probeLine = (info: object): string => `PERFRL_PROBE ${JSON.stringify(info)}\n`;

describe("buildServerLaunch", () => {
  it("runs the server module with the given interpreter over stdio", () => {
    assert.deepEqual(buildServerLaunch("/opt/venv/bin/python"), {
      command: "/opt/venv/bin/python",
      args: ["-P", "-m", "perfrl.lsp"],
    });
  });

  it("keeps an interpreter path with spaces as one argument", () => {
    assert.equal(buildServerLaunch("/My Envs/py 3.12/bin/python").command, "/My Envs/py 3.12/bin/python");
  });
});

describe("probe script", () => {
  it("is passed with -c and checks the minimum version before importing", () => {
    const args = probeArgs();
    assert.equal(args[0], "-c");
    assert.equal(args[1], PROBE_SCRIPT);
    assert.match(PROBE_SCRIPT, new RegExp(`sys.version_info >= \\(${MIN_PYTHON[0]}, ${MIN_PYTHON[1]}\\)`));
    assert.match(PROBE_SCRIPT, /import pygls, perfrl\.lsp/);
  });
});

describe("interpretProbe", () => {
  it("accepts a new enough Python with the server", () => {
    const verdict = interpretProbe(
      {
        code: 0,
        stdout: probeLine({ version: [3, 12, 4], executable: "/v/bin/python3", error: null }),
        stderr: "",
      },
      "python3",
    );
    assert.deepEqual(verdict, { ok: true, version: "3.12.4", executable: "/v/bin/python3" });
  });

  it("ignores noise before the marked line", () => {
    const stdout = "sitecustomize loaded\n" + probeLine({ version: [3, 11, 0], executable: "/p", error: null });
    assert.equal(interpretProbe({ code: 0, stdout, stderr: "" }, "p").ok, true);
  });

  it("rejects Python older than 3.11 and names both versions", () => {
    const verdict = interpretProbe(
      { code: 0, stdout: probeLine({ version: [3, 10, 12], executable: "/usr/bin/python3", error: null }), stderr: "" },
      "/usr/bin/python3",
    );
    assert.equal(verdict.ok, false);
    assert.ok(!verdict.ok);
    assert.equal(verdict.problem, "too_old");
    assert.match(verdict.message, /3\.11 or newer/);
    assert.match(verdict.message, /Python 3\.10\.12/);
    assert.match(verdict.message, /perfrl\.server\.interpreter/);
  });

  it("rejects Python 2-style major versions", () => {
    const verdict = interpretProbe(
      { code: 0, stdout: probeLine({ version: [2, 7, 18], executable: "/p", error: null }), stderr: "" },
      "python",
    );
    assert.ok(!verdict.ok && verdict.problem === "too_old");
  });

  it("reports a missing server and what to do", () => {
    const verdict = interpretProbe(
      {
        code: 0,
        stdout: probeLine({
          version: [3, 11, 9],
          executable: "/p",
          error: "ModuleNotFoundError: No module named 'pygls'",
        }),
        stderr: "",
      },
      "/home/me/.venv/bin/python",
    );
    assert.ok(!verdict.ok);
    assert.equal(verdict.problem, "not_installed");
    assert.match(verdict.message, /No module named 'pygls'/);
    assert.match(verdict.message, /"\/home\/me\/\.venv\/bin\/python"/);
    assert.match(verdict.message, /perfrl\.server\.interpreter/);
  });

  it("reports an interpreter that cannot be started", () => {
    const verdict = interpretProbe(
      { code: null, stdout: "", stderr: "", spawnError: "ENOENT: spawn nope ENOENT" },
      "nope",
    );
    assert.ok(!verdict.ok);
    assert.equal(verdict.problem, "not_found");
    assert.match(verdict.message, /"nope"/);
    assert.match(verdict.message, /ENOENT/);
  });

  it("reports a program that is not Python, with its last stderr line", () => {
    const verdict = interpretProbe(
      { code: 2, stdout: "", stderr: "usage: something\nunknown option -c\n" },
      "/usr/bin/node",
    );
    assert.ok(!verdict.ok);
    assert.equal(verdict.problem, "broken");
    assert.match(verdict.message, /unknown option -c/);
  });

  it("treats a malformed probe line as broken", () => {
    const verdict = interpretProbe({ code: 0, stdout: "PERFRL_PROBE {not json\n", stderr: "" }, "py");
    assert.ok(!verdict.ok && verdict.problem === "broken");
  });
});

describe("installCommand", () => {
  it("leaves plain paths unquoted", () => {
    assert.equal(installCommand("/usr/bin/python3"), "/usr/bin/python3 -m pip install perfrl");
  });

  it("quotes paths with spaces or shell characters", () => {
    assert.equal(
      installCommand("/My Envs/$x/python"),
      '"/My Envs/\\$x/python" -m pip install perfrl',
    );
  });
});
