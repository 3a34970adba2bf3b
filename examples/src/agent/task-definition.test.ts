import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { AgentError } from "./errors.js";
import type { AgentResult } from "./result.js";
import { parseTaskDefinition, startOrder, taskDefinitionFromJson } from "./task-definition.js";

const base = {
  family: "web",
  networkMode: "awsvpc",
  cpu: "256",
  memory: "0.5 GB",
  containerDefinitions: [{ name: "app", image: "busybox" }],
};

function unwrap<T>(r: AgentResult<T>): T {
  if (!r.ok) throw r.error;
  return r.value;
}

function invalid(value: unknown): AgentError {
  const r = taskDefinitionFromJson(value);
  if (r.ok) throw new Error("expected a failure");
  return r.error;
}

describe("parseTaskDefinition", () => {
  it("applies ECS defaults and converts task sizes", () => {
    const def = unwrap(taskDefinitionFromJson(base));
    expect(def).toMatchObject({ family: "web", revision: 1, networkMode: "awsvpc", cpu: 256, memory: 512 });
    expect(def.containerDefinitions[0]).toEqual({
      name: "app",
      image: "busybox",
      environment: [],
      secrets: [],
      essential: true,
      dependsOn: [],
      portMappings: [],
    });
    expect(unwrap(taskDefinitionFromJson({ ...base, cpu: "1 vCPU", memory: 2048 }))).toMatchObject({
      cpu: 1024,
      memory: 2048,
    });
  });

  it("reads every supported container field", () => {
    const def = unwrap(
      taskDefinitionFromJson({
        taskDefinition: {
          ...base,
          revision: 3,
          containerDefinitions: [
            {
              name: "init",
              image: "busybox",
              essential: false,
              entryPoint: ["sh", "-c"],
              command: ["echo hi"],
              environment: [
                { name: "A", value: "1" },
                { name: "B", value: "x=y" },
              ],
              secrets: [{ name: "TOKEN", valueFrom: "token.txt" }],
            },
            {
              name: "app",
              image: "busybox",
              cpu: 128,
              memory: 64,
              workingDirectory: "/srv",
              portMappings: [
                { containerPort: 8080 },
                { containerPort: 53, hostPort: 53, protocol: "udp", name: "dns" },
              ],
              logConfiguration: { logDriver: "json-file", options: { "max-size": "1m" } },
              dependsOn: [{ containerName: "init", condition: "SUCCESS" }],
            },
          ],
        },
      }),
    );
    expect(def.revision).toBe(3);
    const [init, app] = def.containerDefinitions;
    expect(init).toMatchObject({
      essential: false,
      entryPoint: ["sh", "-c"],
      command: ["echo hi"],
      environment: [
        ["A", "1"],
        ["B", "x=y"],
      ],
      secrets: [{ name: "TOKEN", valueFrom: "token.txt" }],
    });
    expect(app).toMatchObject({
      cpu: 128,
      memory: 64,
      workingDirectory: "/srv",
      portMappings: [
        { containerPort: 8080, hostPort: 8080, protocol: "tcp" },
        { containerPort: 53, hostPort: 53, protocol: "udp", name: "dns" },
      ],
      logConfiguration: { logDriver: "json-file", options: { "max-size": "1m" } },
      dependsOn: [{ containerName: "init", condition: "SUCCESS" }],
    });
  });

  it("parses the sample task shipped in examples/tasks", () => {
    const text = readFileSync(resolve(import.meta.dirname, "../../tasks/sample.json"), "utf8");
    const def = unwrap(parseTaskDefinition(text));
    expect(def.containerDefinitions.map((c) => c.name)).toEqual(["app", "sidecar"]);
    expect(startOrder(def.containerDefinitions)).toEqual(["app", "sidecar"]);
  });

  it("orders containers after their dependencies", () => {
    const def = unwrap(
      taskDefinitionFromJson({
        ...base,
        containerDefinitions: [
          { name: "c", image: "i", dependsOn: [{ containerName: "b", condition: "START" }] },
          { name: "a", image: "i", essential: false },
          { name: "b", image: "i", dependsOn: [{ containerName: "a", condition: "COMPLETE" }] },
        ],
      }),
    );
    expect(startOrder(def.containerDefinitions)).toEqual(["a", "b", "c"]);
  });

  it("refuses text that is not JSON", () => {
    const r = parseTaskDefinition("{ nope");
    expect(!r.ok && r.error.code).toBe("InvalidTaskDefinition");
    expect(!r.ok && r.error.field).toBe("$");
  });

  it.each([
    ["a non-object", [], "$"],
    ["a missing family", { ...base, family: undefined }, "family"],
    ["a bad family", { ...base, family: "a b" }, "family"],
    ["bridge mode", { ...base, networkMode: "bridge" }, "networkMode"],
    ["no containers", { ...base, containerDefinitions: [] }, "containerDefinitions"],
    ["a bad cpu", { ...base, cpu: "lots" }, "cpu"],
    ["a missing image", { ...base, containerDefinitions: [{ name: "a" }] }, "containerDefinitions[0].image"],
    ["a bad name", { ...base, containerDefinitions: [{ name: "a/b", image: "i" }] }, "containerDefinitions[0].name"],
    [
      "a numeric env value",
      { ...base, containerDefinitions: [{ name: "a", image: "i", environment: [{ name: "N", value: 1 }] }] },
      "containerDefinitions[0].environment[0].value",
    ],
    [
      "a secret without valueFrom",
      { ...base, containerDefinitions: [{ name: "a", image: "i", secrets: [{ name: "S" }] }] },
      "containerDefinitions[0].secrets[0].valueFrom",
    ],
    [
      "a command that is not a list",
      { ...base, containerDefinitions: [{ name: "a", image: "i", command: "echo hi" }] },
      "containerDefinitions[0].command",
    ],
    [
      "a differing hostPort",
      {
        ...base,
        containerDefinitions: [{ name: "a", image: "i", portMappings: [{ containerPort: 80, hostPort: 81 }] }],
      },
      "containerDefinitions[0].portMappings[0].hostPort",
    ],
    [
      "duplicate names",
      {
        ...base,
        containerDefinitions: [
          { name: "a", image: "i" },
          { name: "a", image: "i" },
        ],
      },
      "containerDefinitions[1].name",
    ],
    [
      "no essential container",
      { ...base, containerDefinitions: [{ name: "a", image: "i", essential: false }] },
      "containerDefinitions",
    ],
    [
      "an unknown dependency",
      {
        ...base,
        containerDefinitions: [{ name: "a", image: "i", dependsOn: [{ containerName: "x", condition: "START" }] }],
      },
      "containerDefinitions[0].dependsOn[0].containerName",
    ],
    [
      "HEALTHY",
      {
        ...base,
        containerDefinitions: [
          { name: "a", image: "i" },
          { name: "b", image: "i", dependsOn: [{ containerName: "a", condition: "HEALTHY" }] },
        ],
      },
      "containerDefinitions[1].dependsOn[0].condition",
    ],
    [
      "COMPLETE on an essential container",
      {
        ...base,
        containerDefinitions: [
          { name: "a", image: "i" },
          { name: "b", image: "i", dependsOn: [{ containerName: "a", condition: "COMPLETE" }] },
        ],
      },
      "containerDefinitions[1].dependsOn[0].condition",
    ],
    [
      "a cycle",
      {
        ...base,
        containerDefinitions: [
          { name: "a", image: "i", dependsOn: [{ containerName: "b", condition: "START" }] },
          { name: "b", image: "i", dependsOn: [{ containerName: "a", condition: "START" }] },
        ],
      },
      "containerDefinitions",
    ],
  ])("refuses %s, naming the field", (_what, value, field) => {
    const e = invalid(value);
    expect(AgentError.is(e)).toBe(true);
    expect(e.code).toBe("InvalidTaskDefinition");
    expect(e.field).toBe(field);
    expect(e.message).toMatch(/^invalid task definition: /);
  });
});
