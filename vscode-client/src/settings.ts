/**
 * The `perfrl.*` settings as the server receives them (initializationOptions and
 * `workspace/configuration`, section `perfrl`, camelCase keys; docs/lsp-protocol.md).
 * Pure: callers pass in the raw configuration object and the Python extension's interpreter.
 *
 * The client does not validate values: the server owns that and tells the user about bad ones.
 * It only drops client-only keys and fills in the project interpreter.
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
] as const;

/** Keys under `perfrl.` that only the client reads (`perfrl.server.interpreter`, `perfrl.trace.server`). */
const CLIENT_ONLY_KEYS = new Set(["server", "trace"]);

/** Settings that need a server restart rather than a `didChangeConfiguration`. */
export const RESTART_SETTINGS = ["perfrl.server.interpreter"];

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
