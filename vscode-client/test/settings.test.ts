import * as assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";

import {
  adaptConfigurationItem,
  openSettingsCommand,
  SERVER_SETTING_KEYS,
  toWireSettings,
} from "../src/settings";

// Compiled tests live in out/test/, the manifest two levels up.
const manifest = JSON.parse(readFileSync(join(__dirname, "..", "..", "package.json"), "utf8")) as {
  contributes: { configuration: { properties: Record<string, Record<string, unknown>> } };
};
const properties = manifest.contributes.configuration.properties;

describe("toWireSettings", () => {
  const raw = {
    interpreter: null,
    sources: ["rules"],
    numCandidates: 4,
    threshold: 1.2,
    server: { interpreter: "/srv/python" },
    trace: { server: "messages" },
  };

  it("drops the client-only keys and keeps the rest as they are", () => {
    const wire = toWireSettings(raw, undefined);
    assert.deepEqual(wire, { interpreter: null, sources: ["rules"], numCandidates: 4, threshold: 1.2 });
    assert.deepEqual(raw.server, { interpreter: "/srv/python" }, "the input is not modified");
  });

  it("fills the project interpreter from the Python extension when unset", () => {
    assert.equal(toWireSettings(raw, "/ext/python").interpreter, "/ext/python");
  });

  it("keeps an explicit project interpreter over the Python extension's", () => {
    assert.equal(
      toWireSettings({ ...raw, interpreter: "~/v/bin/python" }, "/ext/python", { home: "/h" }).interpreter,
      "/h/v/bin/python",
    );
  });

  it("sends empty path settings as null, and other paths as they are", () => {
    assert.equal(toWireSettings({ modelPath: "" }, undefined).modelPath, null);
    assert.equal(toWireSettings({ modelPath: "  " }, undefined).modelPath, null);
    assert.equal(toWireSettings({ modelPath: "/models/perfrl" }, undefined).modelPath, "/models/perfrl");
    assert.equal(toWireSettings({ interpreter: "" }, undefined).interpreter, null);
    assert.ok(!("modelPath" in toWireSettings({}, undefined)), "absent keys stay absent");
  });

  it("passes invalid values through for the server to report", () => {
    assert.equal(toWireSettings({ numCandidates: "many" }, undefined).numCandidates, "many");
  });

  it("survives a missing or malformed section", () => {
    assert.deepEqual(toWireSettings(undefined, undefined), { interpreter: null });
    assert.deepEqual(toWireSettings([1, 2], "/p"), { interpreter: "/p" });
  });

  it("drops methods of a configuration object", () => {
    const withMethods = { sources: ["model"], get: () => 1, has: () => true };
    assert.deepEqual(toWireSettings(withMethods, undefined), { sources: ["model"], interpreter: null });
  });
});

describe("adaptConfigurationItem", () => {
  it("adapts the perfrl section and perfrl.interpreter, nothing else", () => {
    assert.deepEqual(adaptConfigurationItem("perfrl", { server: {}, threshold: 1.5 }, "/ext"), {
      threshold: 1.5,
      interpreter: "/ext",
    });
    assert.equal(adaptConfigurationItem("perfrl.interpreter", null, "/ext"), "/ext");
    assert.equal(adaptConfigurationItem("perfrl.interpreter", "/mine", "/ext"), "/mine");
    assert.deepEqual(adaptConfigurationItem("python", { a: 1 }, "/ext"), { a: 1 });
    assert.equal(adaptConfigurationItem(undefined, 7, "/ext"), 7);
  });
});

describe("package.json settings", () => {
  it("declares every server setting with a description, a scope and the documented default", () => {
    // Defaults from docs/lsp-protocol.md, except that the nullable paths are "" in the editor
    // (a text box in the Settings UI) and go out as null (tested above); the temperature is
    // 0, which the server reads as the model's own (a number field in the Settings UI).
    const documented: Record<string, unknown> = {
      interpreter: "",
      sources: ["rules", "model"],
      numCandidates: 8,
      threshold: 1.1,
      testTimeout: 120,
      benchTimeout: 60,
      modelPath: "",
      sandbox: "auto",
      temperature: 0,
      maxConcurrentJobs: 1,
      feedbackRound: true,
    };
    assert.deepEqual([...SERVER_SETTING_KEYS].sort(), Object.keys(documented).sort());
    for (const key of SERVER_SETTING_KEYS) {
      const property = properties[`perfrl.${key}`];
      assert.ok(property !== undefined, `perfrl.${key} is missing from package.json`);
      assert.deepEqual(property.default, documented[key], `default of perfrl.${key}`);
      assert.ok(
        ["resource", "window", "machine-overridable"].includes(property.scope as string),
        `scope of perfrl.${key}`,
      );
      assert.ok(typeof property.markdownDescription === "string" && property.markdownDescription.length > 20);
    }
  });

  it("declares the client's own settings and nothing unknown", () => {
    const keys = Object.keys(properties).map((key) => key.replace(/^perfrl\./, "")).sort();
    assert.deepEqual(keys, [...SERVER_SETTING_KEYS, "server.interpreter", "trace.server"].sort());
  });
});

describe("openSettingsCommand", () => {
  it("opens the Remote settings tab in a remote window, else the User settings", () => {
    assert.equal(openSettingsCommand("ssh-remote"), "workbench.action.openRemoteSettings");
    assert.equal(openSettingsCommand(undefined), "workbench.action.openSettings");
    assert.equal(openSettingsCommand(""), "workbench.action.openSettings");
  });
});
