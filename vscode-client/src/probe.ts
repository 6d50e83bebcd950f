/**
 * Runs the interpreter probe of `serverCommand.ts` as a real subprocess (no `vscode` import, so
 * the unit tests run it against real interpreters).
 */
import { execFile } from "node:child_process";

import { type ProbeOutput, probeArgs } from "./serverCommand";

/** Default limit for the probe: importing pygls on a cold disk takes a second or two. */
export const PROBE_TIMEOUT_MS = 20_000;

/**
 * Runs `<interpreter> -c PROBE_SCRIPT`. Never rejects: a process that cannot start or outlives
 * `timeoutMs` (it is killed) is reported through `spawnError`.
 */
export function runProbe(
  interpreter: string,
  options: { timeoutMs?: number; cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<ProbeOutput> {
  const timeoutMs = options.timeoutMs ?? PROBE_TIMEOUT_MS;
  return new Promise((resolve) => {
    execFile(
      interpreter,
      probeArgs(),
      {
        timeout: timeoutMs,
        killSignal: "SIGKILL",
        cwd: options.cwd,
        env: options.env,
        maxBuffer: 1024 * 1024,
        windowsHide: true,
      },
      (error, stdout, stderr) => {
        if (error === null) {
          resolve({ code: 0, stdout, stderr });
          return;
        }
        const err = error as NodeJS.ErrnoException & { killed?: boolean; code?: unknown };
        if (typeof err.code === "string") {
          // ENOENT, EACCES...: the interpreter itself could not be started.
          resolve({ code: null, stdout, stderr, spawnError: `${err.code}: ${err.message}` });
        } else if (err.killed) {
          resolve({
            code: null,
            stdout,
            stderr,
            spawnError: `no answer within ${Math.round(timeoutMs / 1000)} s`,
          });
        } else {
          resolve({ code: typeof err.code === "number" ? err.code : null, stdout, stderr });
        }
      },
    );
  });
}
