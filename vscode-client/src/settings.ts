/**
 * The `perfrl.*` settings as the server receives them (initializationOptions and
 * `workspace/configuration`, section `perfrl`, camelCase keys; docs/lsp-protocol.md).
 * Pure: callers pass in the raw configuration object and the Python extension's interpreter.
 *
 * The client does not validate values: the server owns that and tells the user about bad ones.
 * It only drops client-only keys, sends empty path settings as null and fills in the project
 * interpreter.
 */
import { type PathContext, resolveProjectInterpreter } from "./interpreter";

/** The configuration section shared with the server. */
export const SECTION = "perfrl";

/** Keys the server reads (docs/lsp-protocol.md), in the order of that table. */
export const SERVER_SETTING_KEYS = [
  "interpreter",
  "sources",
  "numCandidates",
  "threshold",
  "testTimeout",
  "benchTimeout",
  "modelPath",
  "sandbox",
  "temperature",
  "maxConcurrentJobs",
  "feedbackRound",
] as const;

/** Keys under `perfrl.` that only the client reads (`perfrl.server.interpreter`, `perfrl.trace.server`). */
const CLIENT_ONLY_KEYS = new Set(["server", "trace"]);

/**
 * Path settings that are `string | null` on the wire (docs/lsp-protocol.md). In package.json
 * they are plain strings defaulting to "" so that the Settings editor shows a text box (a
 * `["string", "null"]` type only gets an "Edit in settings.json" link); "" goes out as null.
 */
const NULLABLE_PATH_KEYS = ["modelPath"];

export type WireSettings = Record<string, unknown>;

/**
 * Wire form of the `perfrl` section: every key except the client-only ones, with `interpreter`
 * resolved (setting, else `pythonExtension`, else null). Input objects are not modified.
 */
export function toWireSettings(
  section: unknown,
  pythonExtension: string | undefined,
  context: PathContext = {},
): WireSettings {
  const raw = isPlainObject(section) ? section : {};
  const wire: WireSettings = {};
  for (const [key, value] of Object.entries(raw)) {
    if (!CLIENT_ONLY_KEYS.has(key) && typeof value !== "function") {
      wire[key] = value;
    }
  }
  for (const key of NULLABLE_PATH_KEYS) {
    const value = wire[key];
    if (typeof value === "string" && value.trim() === "") {
      wire[key] = null;
    }
  }
  wire.interpreter = resolveProjectInterpreter(raw.interpreter, pythonExtension, context);
  return wire;
}

/**
 * Rewrites one item of a `workspace/configuration` answer: the whole `perfrl` section goes
 * through `toWireSettings`, `perfrl.interpreter` alone gets the same fallback; anything else is
 * returned unchanged.
 */
export function adaptConfigurationItem(
  section: string | undefined,
  value: unknown,
  pythonExtension: string | undefined,
  context: PathContext = {},
): unknown {
  if (section === SECTION) {
    return toWireSettings(value, pythonExtension, context);
  }
  if (section === `${SECTION}.interpreter`) {
    return resolveProjectInterpreter(value, pythonExtension, context);
  }
  return value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Command that opens the Settings editor where `perfrl.server.interpreter` is shown: the
 * machine-overridable settings of a remote window (Remote-SSH, code-server, WSL) appear only
 * in the Remote tab, so a remote window opens that one. Takes `vscode.env.remoteName`.
 */
export function openSettingsCommand(remoteName: string | undefined): string {
  return remoteName !== undefined && remoteName !== ""
    ? "workbench.action.openRemoteSettings"
    : "workbench.action.openSettings";
}
