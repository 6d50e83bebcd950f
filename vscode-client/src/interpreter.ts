/**
 * Which Python runs the server, and which runs the project's tests. Pure: the caller passes in
 * what the settings and the Python extension say.
 *
 * Order (both cases): the explicit setting, then the interpreter selected in the Python
 * extension, then a default. For the server the default is `python3`; for the project it is
 * left to the server (`<project>/.venv/bin/python`, else `python3`), so null goes on the wire.
 */

export type InterpreterSource = "setting" | "python-extension" | "default";

export interface ResolvedInterpreter {
  path: string;
  source: InterpreterSource;
}

/** Values `${...}` and `~` in a configured path may refer to. */
export interface PathContext {
  home?: string;
  workspaceFolder?: string;
}

export const DEFAULT_SERVER_INTERPRETER = "python3";

/**
 * A configured interpreter path, or undefined when the setting is unset (null, not a string,
 * empty or blank). Expands a leading `~` and `${workspaceFolder}` / `${userHome}`.
 */
export function configuredPath(value: unknown, context: PathContext = {}): string | undefined {
  if (typeof value !== "string" || value.trim() === "") {
    return undefined;
  }
  let path = value.trim();
  if (context.home !== undefined) {
    path = path.replace(/^~(?=$|[/\\])/, context.home).replace(/\$\{userHome\}/g, context.home);
  }
  if (context.workspaceFolder !== undefined) {
    path = path.replace(/\$\{workspaceFolder\}/g, context.workspaceFolder);
  }
  return path;
}

/** Interpreter for the server process: setting, else the Python extension's, else python3. */
export function resolveServerInterpreter(
  setting: unknown,
  pythonExtension: string | undefined,
  context: PathContext = {},
): ResolvedInterpreter {
  const fromSetting = configuredPath(setting, context);
  if (fromSetting !== undefined) {
    return { path: fromSetting, source: "setting" };
  }
  if (pythonExtension !== undefined && pythonExtension !== "") {
    return { path: pythonExtension, source: "python-extension" };
  }
  return { path: DEFAULT_SERVER_INTERPRETER, source: "default" };
}

/**
 * Interpreter that runs the project's tests, as sent to the server: setting, else the Python
 * extension's, else null (the server then picks the project's .venv or python3).
 */
export function resolveProjectInterpreter(
  setting: unknown,
  pythonExtension: string | undefined,
  context: PathContext = {},
): string | null {
  const fromSetting = configuredPath(setting, context);
  if (fromSetting !== undefined) {
    return fromSetting;
  }
  return pythonExtension !== undefined && pythonExtension !== "" ? pythonExtension : null;
}

/**
 * The executable in the Python extension's `execCommand` (for example `["/venv/bin/python"]`),
 * or undefined when it is a wrapper command (`conda run ...`) that cannot start `-P -m perfrl.lsp`.
 */
export function interpreterFromExecCommand(execCommand: readonly string[] | undefined): string | undefined {
  if (execCommand === undefined || execCommand.length !== 1 || execCommand[0].trim() === "") {
    return undefined;
  }
  return execCommand[0];
}
