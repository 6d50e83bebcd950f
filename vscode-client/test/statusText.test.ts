import * as assert from "node:assert/strict";
import { describe, it } from "node:test";

import { formatServerState, formatStatus, parseStatus, type PerfrlStatus } from "../src/statusText";

const idle: PerfrlStatus = { model: "ready", modelError: null, jobsRunning: 0, jobsQueued: 0 };

describe("parseStatus", () => {
  it("accepts the documented payload", () => {
    assert.deepEqual(
      parseStatus({ model: "loading", modelError: null, jobsRunning: 1, jobsQueued: 2 }),
      { model: "loading", modelError: null, jobsRunning: 1, jobsQueued: 2 },
    );
  });

  it("defaults missing job counts to zero and empty errors to null", () => {
    assert.deepEqual(parseStatus({ model: "failed", modelError: "" }), {
      model: "failed",
      modelError: null,
      jobsRunning: 0,
      jobsQueued: 0,
    });
  });

  it("rejects unknown states, bad counts and non-objects", () => {
    assert.equal(parseStatus({ model: "exploded", jobsRunning: 0, jobsQueued: 0 }), undefined);
    assert.equal(parseStatus({ model: "ready", jobsRunning: -1, jobsQueued: 0 }), undefined);
    assert.equal(parseStatus({ model: "ready", jobsRunning: 1.5, jobsQueued: 0 }), undefined);
    assert.equal(parseStatus({ model: "ready", jobsRunning: "1", jobsQueued: 0 }), undefined);
    assert.equal(parseStatus(null), undefined);
    assert.equal(parseStatus("ready"), undefined);
  });
});

describe("formatStatus", () => {
  it("shows the model state when idle", () => {
    assert.equal(formatStatus(idle).text, "$(zap) PerfRL: model ready");
    assert.equal(formatStatus({ ...idle, model: "not_loaded" }).text, "$(zap) PerfRL: model not loaded");
    assert.equal(formatStatus({ ...idle, model: "loading" }).text, "$(loading~spin) PerfRL: loading model");
  });

  it("adds running and queued jobs with a spinner", () => {
    assert.equal(
      formatStatus({ ...idle, jobsRunning: 1 }).text,
      "$(sync~spin) PerfRL: model ready · 1 job running",
    );
    assert.equal(
      formatStatus({ ...idle, jobsRunning: 2, jobsQueued: 3 }).text,
      "$(sync~spin) PerfRL: model ready · 2 jobs running, 3 queued",
    );
    assert.equal(
      formatStatus({ ...idle, jobsQueued: 1 }).text,
      "$(sync~spin) PerfRL: model ready · 0 jobs running, 1 queued",
    );
  });

  it("warns when the model failed and puts the error in the tooltip", () => {
    const view = formatStatus({ ...idle, model: "failed", modelError: "model.onnx not found" });
    assert.equal(view.text, "$(warning) PerfRL: model failed");
    assert.equal(view.severity, "warning");
    assert.match(view.tooltip, /Model error: model\.onnx not found/);
    assert.match(view.tooltip, /Rule-based rewrites still work/);
  });

  it("says in the tooltip that an unloaded model loads on first use", () => {
    assert.match(formatStatus({ ...idle, model: "not_loaded" }).tooltip, /loads on first use/);
  });
});

describe("formatServerState", () => {
  it("shows starting, running, stopped and failed", () => {
    assert.equal(formatServerState("starting").severity, "normal");
    assert.equal(formatServerState("starting").text, "$(loading~spin) PerfRL: starting");
    assert.equal(formatServerState("running").text, "$(zap) PerfRL");
    assert.equal(formatServerState("stopped").severity, "warning");
    const failed = formatServerState("failed", "Python 3.9 is too old");
    assert.equal(failed.severity, "error");
    assert.equal(failed.text, "$(error) PerfRL: server not running");
    assert.match(failed.tooltip, /Python 3\.9 is too old/);
  });
});
