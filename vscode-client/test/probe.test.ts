// Runs the probe against real processes: a real Python with packages laid out in a temp dir
// (the probe's contract is "these imports work"), a program that is not Python, a hung one.
import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";

import { runProbe } from "../src/probe";
import { interpretProbe } from "../src/serverCommand";

// PERFRL_TEST_PYTHON lets CI pick the interpreter; it must be 3.11+ like the server needs.
const python = process.env.PERFRL_TEST_PYTHON ?? "python3";

describe("runProbe", () => {
  let dir: string;
  // A real Python without site-packages (-S), so that what the test lays out in the working
  // directory is all there is (an installed or editable PerfRL would otherwise leak in).
  let isolatedPython: string;
  const isolatedEnv = (): NodeJS.ProcessEnv => ({ PATH: process.env.PATH });

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "perfrl-probe-"));
    const version = execFileSync(python, ["-c", "import sys; print(sys.version_info >= (3, 11))"]);
    assert.equal(version.toString().trim(), "True", `${python} must be Python 3.11+ for these tests`);
    isolatedPython = join(dir, "python-no-site");
    writeFileSync(isolatedPython, `#!/bin/sh\nexec ${JSON.stringify(python)} -S "$@"\n`);
    chmodSync(isolatedPython, 0o755);
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it("accepts a Python where the server and pygls import", async () => {
    const site = join(dir, "ok");
    mkdirSync(join(site, "perfrl", "lsp"), { recursive: true });
    mkdirSync(join(site, "pygls"), { recursive: true });
    writeFileSync(join(site, "perfrl", "__init__.py"), "");
    writeFileSync(join(site, "perfrl", "lsp", "__init__.py"), "");
    writeFileSync(join(site, "pygls", "__init__.py"), "");
    const output = await runProbe(isolatedPython, { cwd: dir, env: { ...isolatedEnv(), PYTHONPATH: site } });
    const verdict = interpretProbe(output, isolatedPython);
    assert.equal(verdict.ok, true, JSON.stringify({ output, verdict }));
  });

  it("reports the import error when the server package is incomplete", async () => {
    const site = join(dir, "partial");
    mkdirSync(join(site, "perfrl"), { recursive: true });
    mkdirSync(join(site, "pygls"), { recursive: true });
    writeFileSync(join(site, "perfrl", "__init__.py"), "");
    writeFileSync(join(site, "pygls", "__init__.py"), "");
    const output = await runProbe(isolatedPython, { cwd: dir, env: { ...isolatedEnv(), PYTHONPATH: site } });
    const verdict = interpretProbe(output, isolatedPython);
    assert.ok(!verdict.ok);
    assert.equal(verdict.problem, "not_installed");
    assert.match(verdict.message, /No module named 'perfrl\.lsp'/);
  });

  it("reports the import error when pygls is missing", async () => {
    const site = join(dir, "no-pygls");
    mkdirSync(join(site, "perfrl", "lsp"), { recursive: true });
    writeFileSync(join(site, "perfrl", "__init__.py"), "");
    writeFileSync(join(site, "perfrl", "lsp", "__init__.py"), "");
    const output = await runProbe(isolatedPython, { cwd: dir, env: { ...isolatedEnv(), PYTHONPATH: site } });
    const verdict = interpretProbe(output, isolatedPython);
    assert.ok(!verdict.ok && verdict.problem === "not_installed");
    assert.match(verdict.message, /No module named 'pygls'/);
  });

  it("does not take a workspace's own perfrl package for the server", async () => {
    // The editor runs the probe in the user's workspace: packages there must not count.
    const workspace = join(dir, "workspace");
    for (const pkg of ["perfrl", "server"]) {
      mkdirSync(join(workspace, pkg, "lsp"), { recursive: true });
      writeFileSync(join(workspace, pkg, "__init__.py"), "");
      writeFileSync(join(workspace, pkg, "lsp", "__init__.py"), "");
    }
    mkdirSync(join(workspace, "pygls"), { recursive: true });
    writeFileSync(join(workspace, "pygls", "__init__.py"), "");
    const output = await runProbe(isolatedPython, { cwd: workspace, env: isolatedEnv() });
    const verdict = interpretProbe(output, isolatedPython);
    assert.ok(!verdict.ok && verdict.problem === "not_installed", JSON.stringify(verdict));
  });

  it("reports a missing interpreter as not found", async () => {
    const missing = join(dir, "no-such-python");
    const output = await runProbe(missing);
    assert.match(output.spawnError ?? "", /ENOENT/);
    const verdict = interpretProbe(output, missing);
    assert.ok(!verdict.ok && verdict.problem === "not_found");
  });

  it("reports a program that is not Python as broken", async () => {
    const fake = join(dir, "not-python");
    writeFileSync(fake, "#!/bin/sh\necho 'this is not python' >&2\nexit 3\n");
    chmodSync(fake, 0o755);
    const output = await runProbe(fake);
    assert.equal(output.code, 3);
    const verdict = interpretProbe(output, fake);
    assert.ok(!verdict.ok);
    assert.equal(verdict.problem, "broken");
    assert.match(verdict.message, /this is not python/);
  });

  it("kills an interpreter that does not answer in time", async () => {
    const hung = join(dir, "hung-python");
    writeFileSync(hung, "#!/bin/sh\nexec sleep 30\n");
    chmodSync(hung, 0o755);
    const started = Date.now();
    const output = await runProbe(hung, { timeoutMs: 300 });
    assert.ok(Date.now() - started < 5000, "the probe must not wait for the hung process");
    assert.match(output.spawnError ?? "", /no answer within/);
  });
});
