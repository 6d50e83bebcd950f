/**
 * The status bar item's text from the server's `perfrl/status` notification
 * (docs/lsp-protocol.md). Pure.
 */

export type ModelState = "not_loaded" | "loading" | "ready" | "failed";

/** Parameters of `perfrl/status`. */
export interface PerfrlStatus {
  model: ModelState;
  modelError: string | null;
  jobsRunning: number;
  jobsQueued: number;
}

/** What the status bar shows. `severity` picks the item's background colour. */
export interface StatusView {
  text: string;
  tooltip: string;
  severity: "normal" | "warning" | "error";
}

const MODEL_STATES: readonly ModelState[] = ["not_loaded", "loading", "ready", "failed"];

/**
 * Validates the notification's parameters; undefined when they are not a `perfrl/status` payload
 * (the item then keeps its last state rather than showing nonsense).
 */
export function parseStatus(params: unknown): PerfrlStatus | undefined {
  if (typeof params !== "object" || params === null) {
    return undefined;
  }
  const p = params as Record<string, unknown>;
  if (!MODEL_STATES.includes(p.model as ModelState)) {
    return undefined;
  }
  const count = (value: unknown): number | undefined =>
    typeof value === "number" && Number.isInteger(value) && value >= 0 ? value : undefined;
  const jobsRunning = count(p.jobsRunning ?? 0);
  const jobsQueued = count(p.jobsQueued ?? 0);
  if (jobsRunning === undefined || jobsQueued === undefined) {
    return undefined;
  }
  const modelError = typeof p.modelError === "string" && p.modelError !== "" ? p.modelError : null;
  return { model: p.model as ModelState, modelError, jobsRunning, jobsQueued };
}

const MODEL_WORDS: Record<ModelState, string> = {
  not_loaded: "model not loaded",
  loading: "loading model",
  ready: "model ready",
  failed: "model failed",
};

/** Status bar view for a status notification: model state, then running and queued jobs. */
export function formatStatus(status: PerfrlStatus): StatusView {
  const busy = status.jobsRunning > 0 || status.jobsQueued > 0;
  const icon = busy
    ? "$(sync~spin)"
    : status.model === "loading"
      ? "$(loading~spin)"
      : status.model === "failed"
        ? "$(warning)"
        : "$(zap)";
  const parts = [`PerfRL: ${MODEL_WORDS[status.model]}`];
  if (busy) {
    parts.push(jobsText(status.jobsRunning, status.jobsQueued));
  }
  const tooltip = [
    `Model: ${MODEL_WORDS[status.model].replace(/^model /, "")}` +
      (status.model === "not_loaded" ? " (it loads on first use)" : ""),
  ];
  if (status.modelError !== null) {
    tooltip.push(`Model error: ${status.modelError}`);
  }
  tooltip.push(`Jobs: ${jobsText(status.jobsRunning, status.jobsQueued)}`);
  if (status.model === "failed") {
    tooltip.push("Rule-based rewrites still work; see PerfRL: Show Log.");
  }
  tooltip.push("Click for the PerfRL log.");
  return {
    text: `${icon} ${parts.join(" · ")}`,
    tooltip: tooltip.join("\n"),
    severity: status.model === "failed" ? "warning" : "normal",
  };
}

/** Status bar view while there is no status notification to show (starting, no status yet,
 * stopped, failed). */
export function formatServerState(
  state: "starting" | "running" | "stopped" | "failed",
  detail?: string,
): StatusView {
  switch (state) {
    case "running":
      // Shown only until the server's first perfrl/status notification arrives.
      return {
        text: "$(zap) PerfRL",
        tooltip: "The PerfRL language server is running.\nClick for the PerfRL log.",
        severity: "normal",
      };
    case "starting":
      return {
        text: "$(loading~spin) PerfRL: starting",
        tooltip: "The PerfRL language server is starting.",
        severity: "normal",
      };
    case "stopped":
      return {
        text: "$(debug-stop) PerfRL: stopped",
        tooltip: "The PerfRL language server is not running. Run PerfRL: Restart Server.",
        severity: "warning",
      };
    case "failed":
      return {
        text: "$(error) PerfRL: server not running",
        tooltip: `${detail ?? "The PerfRL language server could not start."}\nClick for the PerfRL log.`,
        severity: "error",
      };
  }
}

function jobsText(running: number, queued: number): string {
  const text = `${running} job${running === 1 ? "" : "s"} running`;
  return queued > 0 ? `${text}, ${queued} queued` : text;
}
