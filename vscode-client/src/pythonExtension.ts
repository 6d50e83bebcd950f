/**
 * The interpreter selected in the Python extension (ms-python.python), when it is installed.
 * Only the few API members used here are typed; every call is guarded because the API changed
 * over the years (environments API since 2023, `settings.getExecutionDetails` before).
 */
import * as vscode from "vscode";

import { interpreterFromExecCommand } from "./interpreter";

const PYTHON_EXTENSION_ID = "ms-python.python";

interface EnvironmentPath {
  id: string;
  path: string;
}

interface ResolvedEnvironment {
  executable: { uri?: vscode.Uri };
}

interface PythonExtensionApi {
  environments?: {
    getActiveEnvironmentPath(resource?: vscode.Uri): EnvironmentPath;
    resolveEnvironment(env: EnvironmentPath | string): Promise<ResolvedEnvironment | undefined>;
    onDidChangeActiveEnvironmentPath: vscode.Event<unknown>;
  };
  settings?: {
    getExecutionDetails(resource?: vscode.Uri): { execCommand: string[] | undefined };
    onDidChangeExecutionDetails?: vscode.Event<unknown>;
  };
}

async function api(log: vscode.LogOutputChannel): Promise<PythonExtensionApi | undefined> {
  const extension = vscode.extensions.getExtension<PythonExtensionApi>(PYTHON_EXTENSION_ID);
  if (extension === undefined) {
    return undefined;
  }
  try {
    return extension.isActive ? extension.exports : await extension.activate();
  } catch (error) {
    log.warn(`The Python extension did not activate: ${String(error)}`);
    return undefined;
  }
}

/**
 * Path of the interpreter the Python extension selected for `resource`, or undefined (extension
 * missing, nothing selected, or a wrapper command such as `conda run`).
 */
export async function pythonExtensionInterpreter(
  log: vscode.LogOutputChannel,
  resource?: vscode.Uri,
): Promise<string | undefined> {
  const python = await api(log);
  if (python === undefined) {
    return undefined;
  }
  try {
    if (python.environments !== undefined) {
      const active = python.environments.getActiveEnvironmentPath(resource);
      const resolved = await python.environments.resolveEnvironment(active);
      const path = resolved?.executable.uri?.fsPath;
      if (path !== undefined && path !== "") {
        return path;
      }
    }
    if (python.settings !== undefined) {
      return interpreterFromExecCommand(python.settings.getExecutionDetails(resource).execCommand);
    }
  } catch (error) {
    log.warn(`Could not ask the Python extension for its interpreter: ${String(error)}`);
  }
  return undefined;
}

/** Subscribes to interpreter changes in the Python extension (no-op when it is not installed). */
export async function onPythonInterpreterChanged(
  log: vscode.LogOutputChannel,
  listener: () => void,
): Promise<vscode.Disposable> {
  const python = await api(log);
  const event =
    python?.environments?.onDidChangeActiveEnvironmentPath ??
    python?.settings?.onDidChangeExecutionDetails;
  return event !== undefined ? event(() => listener()) : new vscode.Disposable(() => undefined);
}
