/**
 * How the PerfRL language server is launched and how an interpreter is checked before that.
 *
 * Pure: no `vscode`, no processes. `probe.ts` runs the probe; the extension only wires.
 */

/** Oldest Python that runs the server (the server package requires 3.11). */
export const MIN_PYTHON: readonly [number, number] = [3, 11];

/** Marker that starts the probe's JSON line, so stray output (sitecustomize, warnings) is ignored. */
const PROBE_MARKER = "PERFRL_PROBE ";

/** Process to start for the server: `<interpreter> -P -m perfrl.lsp`, speaking LSP over stdio. */
export interface ServerLaunch {
  command: string;
  args: string[];
}

/** The server process: the module entry point keeps working in a virtualenv without scripts on PATH. */
export function buildServerLaunch(interpreter: string): ServerLaunch {
  return { command: interpreter, args: ["-P", "-m", "perfrl.lsp"] };
}

/**
 * Python source for `<interpreter> -c`: prints one marked JSON line with the version and, on a new
 * enough Python, the error of importing the server and pygls (null when both import).
 * The imports are skipped on an old Python, whose error would only hide the real problem.
 */
export const PROBE_SCRIPT = [
  "import json, os, sys",
  // Like `-P` for the server: the working folder (the user's workspace) is not searched, so a
  // workspace's own `perfrl/` package can neither pass nor fail the probe.
  'sys.path[:] = [p for p in sys.path if p not in ("", os.getcwd())]',
  'info = {"version": list(sys.version_info[:3]), "executable": sys.executable, "error": None}',
  `if sys.version_info >= (${MIN_PYTHON[0]}, ${MIN_PYTHON[1]}):`,
  "    try:",
  "        import pygls, perfrl.lsp",
  "    except Exception as exc:",
  '        info["error"] = f"{type(exc).__name__}: {exc}"',
  `print(${JSON.stringify(PROBE_MARKER)} + json.dumps(info), flush=True)`,
].join("\n");

/** Arguments that run the probe with the interpreter under test. */
export function probeArgs(): string[] {
  return ["-c", PROBE_SCRIPT];
}

/** What running the probe produced (see `probe.ts`). */
export interface ProbeOutput {
  /** Exit code; null when the process did not exit normally (killed, not started). */
  code: number | null;
  stdout: string;
  stderr: string;
  /** Set when the interpreter could not be started at all (ENOENT, EACCES) or timed out. */
  spawnError?: string;
}

export type ProbeProblem = "not_found" | "too_old" | "not_installed" | "broken";

/** Verdict on an interpreter: usable for the server, or why not, in words for the user. */
export type ProbeVerdict =
  | { ok: true; version: string; executable: string }
  | { ok: false; problem: ProbeProblem; message: string; version?: string };

/** Reads the probe's output; every failure carries a message that says what to do. */
export function interpretProbe(output: ProbeOutput, interpreter: string): ProbeVerdict {
  if (output.spawnError !== undefined) {
    return {
      ok: false,
      problem: "not_found",
      message:
        `PerfRL could not run the Python interpreter "${interpreter}" (${output.spawnError}). ` +
        "Set perfrl.server.interpreter to a Python 3.11+ that has PerfRL installed.",
    };
  }
  const line = output.stdout
    .split(/\r?\n/)
    .find((candidate) => candidate.startsWith(PROBE_MARKER));
  let info: { version?: unknown; executable?: unknown; error?: unknown } | undefined;
  if (line !== undefined) {
    try {
      info = JSON.parse(line.slice(PROBE_MARKER.length)) as typeof info;
    } catch {
      info = undefined;
    }
  }
  if (info === undefined || !Array.isArray(info.version)) {
    const detail = lastLine(output.stderr) || `exit code ${String(output.code)}`;
    return {
      ok: false,
      problem: "broken",
      message:
        `"${interpreter}" did not answer as a Python interpreter (${detail}). ` +
        "Set perfrl.server.interpreter to a Python 3.11+ that has PerfRL installed.",
    };
  }
  const [major, minor] = info.version.map(Number);
  const version = info.version.join(".");
  if (major < MIN_PYTHON[0] || (major === MIN_PYTHON[0] && minor < MIN_PYTHON[1])) {
    return {
      ok: false,
      problem: "too_old",
      version,
      message:
        `The PerfRL server needs Python ${MIN_PYTHON.join(".")} or newer; "${interpreter}" is ` +
        `Python ${version}. Set perfrl.server.interpreter to a newer Python.`,
    };
  }
  if (typeof info.error === "string" && info.error.length > 0) {
    return {
      ok: false,
      problem: "not_installed",
      version,
      message:
        `The PerfRL server is not installed in "${interpreter}" (${info.error}). Install it ` +
        "into that Python (Copy Install Command), or set perfrl.server.interpreter to one that has it.",
    };
  }
  const executable = typeof info.executable === "string" ? info.executable : interpreter;
  return { ok: true, version, executable };
}

/** Shell command that installs the server into `interpreter` (quoted when it has spaces). */
export function installCommand(interpreter: string): string {
  const quoted = /^[\w@%+=:,./-]+$/.test(interpreter)
    ? interpreter
    : `"${interpreter.replace(/(["\\$`])/g, "\\$1")}"`;
  return `${quoted} -m pip install perfrl`;
}

function lastLine(text: string): string {
  const lines = text.trim().split(/\r?\n/);
  return lines[lines.length - 1] ?? "";
}
