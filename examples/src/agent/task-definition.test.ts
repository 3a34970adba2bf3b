import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { AgentError } from "./errors.js";
import type { AgentResult } from "./result.js";
import { containerMountPoints, parseTaskDefinition, startOrder, taskDefinitionFromJson } from "./task-definition.js";

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

function mp(sourceVolume: string, containerPath: string) {
  return { sourceVolume, containerPath };
}

/** A task whose container `a` has a health check with `fields` over a valid CMD-SHELL one. */
function hc(fields: Record<string, unknown>) {
  return {
    ...base,
    containerDefinitions: [{ name: "a", image: "i", healthCheck: { command: ["CMD-SHELL", "true"], ...fields } }],
  };
}

/** A task where `b` depends on `a` (which has a health check) with `condition`. */
function withDep(condition: string) {
  return {
    ...base,
    containerDefinitions: [
      { name: "a", image: "i", healthCheck: { command: ["CMD", "true"] } },
      { name: "b", image: "i", dependsOn: [{ containerName: "a", condition }] },
    ],
  };
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
      mountPoints: [],
      volumesFrom: [],
      environmentFiles: [],
      readonlyRootFilesystem: false,
    });
    expect(def.volumes).toEqual([]);
    expect(def.ephemeralStorageGiB).toBeUndefined();
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

  it("reads volumes, mount points, volumesFrom, environment files, a read-only root and ephemeral storage", () => {
    const def = unwrap(
      taskDefinitionFromJson({
        ...base,
        volumes: [
          { name: "scratch" },
          { name: "scratch2", host: {} },
          { name: "logs", host: { sourcePath: "/var/log/app/" } },
        ],
        ephemeralStorage: { sizeInGiB: 30 },
        containerDefinitions: [
          {
            name: "app",
            image: "i",
            readonlyRootFilesystem: true,
            mountPoints: [
              { sourceVolume: "scratch", containerPath: "/scratch/" },
              { sourceVolume: "logs", containerPath: "/logs", readOnly: true },
            ],
            environmentFiles: [{ value: "arn:aws:s3:::bucket/app.env", type: "s3" }],
          },
        ],
      }),
    );
    expect(def.volumes).toEqual([
      { name: "scratch" },
      { name: "scratch2" },
      { name: "logs", sourcePath: "/var/log/app" },
    ]);
    expect(def.ephemeralStorageGiB).toBe(30);
    expect(def.containerDefinitions[0]).toMatchObject({
      readonlyRootFilesystem: true,
      mountPoints: [
        { sourceVolume: "scratch", containerPath: "/scratch", readOnly: false },
        { sourceVolume: "logs", containerPath: "/logs", readOnly: true },
      ],
      environmentFiles: [{ value: "arn:aws:s3:::bucket/app.env", type: "s3" }],
    });
  });

  it("applies ECS's health check defaults and accepts HEALTHY dependencies, also on essential containers", () => {
    const def = unwrap(taskDefinitionFromJson(withDep("HEALTHY")));
    expect(def.containerDefinitions[0]?.healthCheck).toEqual({
      command: ["CMD", "true"],
      interval: 30,
      timeout: 5,
      retries: 3,
      startPeriod: 0,
    });
    expect(def.containerDefinitions[1]?.dependsOn).toEqual([{ containerName: "a", condition: "HEALTHY" }]);
    const custom = unwrap(
      taskDefinitionFromJson(
        hc({ command: ["CMD-SHELL", "curl -f", "localhost"], interval: 5, timeout: 2, retries: 10, startPeriod: 300 }),
      ),
    );
    expect(custom.containerDefinitions[0]?.healthCheck).toEqual({
      command: ["CMD-SHELL", "curl -f", "localhost"],
      interval: 5,
      timeout: 2,
      retries: 10,
      startPeriod: 300,
    });
  });

  it("resolves volumesFrom transitively: read-only when asked, the container's own mount point winning", () => {
    const def = unwrap(
      taskDefinitionFromJson({
        ...base,
        volumes: [{ name: "v" }, { name: "w" }, { name: "own" }],
        containerDefinitions: [
          {
            name: "a",
            image: "i",
            essential: false,
            mountPoints: [mp("v", "/v"), { ...mp("w", "/w"), readOnly: true }],
          },
          { name: "b", image: "i", essential: false, volumesFrom: [{ sourceContainer: "a" }] },
          {
            name: "c",
            image: "i",
            mountPoints: [mp("own", "/w")],
            volumesFrom: [{ sourceContainer: "b", readOnly: true }, { sourceContainer: "a" }],
          },
        ],
      }),
    );
    expect(containerMountPoints(def, "b")).toEqual([
      { sourceVolume: "v", containerPath: "/v", readOnly: false },
      { sourceVolume: "w", containerPath: "/w", readOnly: true },
    ]);
    expect(containerMountPoints(def, "c")).toEqual([
      { sourceVolume: "own", containerPath: "/w", readOnly: false },
      { sourceVolume: "v", containerPath: "/v", readOnly: true },
    ]);
    expect(containerMountPoints(def, "nope")).toEqual([]);
  });

  it("says what is wrong with storage and health fields, and how to fix it", () => {
    const cycle = invalid({
      ...base,
      containerDefinitions: [
        { name: "a", image: "i", volumesFrom: [{ sourceContainer: "b" }] },
        { name: "b", image: "i", volumesFrom: [{ sourceContainer: "a" }] },
      ],
    });
    expect(cycle.message).toBe(
      "invalid task definition: volumesFrom has a cycle: a -> b -> a; remove one of the entries",
    );
    const unknown = invalid({
      ...base,
      containerDefinitions: [{ name: "a", image: "i", mountPoints: [mp("data", "/d")] }],
    });
    expect(unknown.message).toMatch(/there is no volume named "data"; declare it in the task's volumes$/);
    const relative = invalid({
      ...base,
      volumes: [{ name: "v" }],
      containerDefinitions: [{ name: "a", image: "i", mountPoints: [mp("v", "d")] }],
    });
    expect(relative.message).toMatch(/containerPath "d" must be an absolute path/);
    const unchecked = invalid({
      ...base,
      containerDefinitions: [
        { name: "a", image: "i" },
        { name: "b", image: "i", dependsOn: [{ containerName: "a", condition: "HEALTHY" }] },
      ],
    });
    expect(unchecked.message).toMatch(/waits for "a" to be HEALTHY, but it has no healthCheck: add one or use START$/);
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
      "HEALTHY on a container without a healthCheck",
      {
        ...base,
        containerDefinitions: [
          { name: "a", image: "i" },
          { name: "b", image: "i", dependsOn: [{ containerName: "a", condition: "HEALTHY" }] },
        ],
      },
      "containerDefinitions[1].dependsOn[0].condition",
    ],
    ["an unknown dependsOn condition", withDep("READY"), "containerDefinitions[1].dependsOn[0].condition"],
    [
      "a mount point of an unknown volume",
      { ...base, containerDefinitions: [{ name: "a", image: "i", mountPoints: [mp("nope", "/x")] }] },
      "containerDefinitions[0].mountPoints[0].sourceVolume",
    ],
    [
      "a relative containerPath",
      {
        ...base,
        volumes: [{ name: "v" }],
        containerDefinitions: [{ name: "a", image: "i", mountPoints: [mp("v", "x")] }],
      },
      "containerDefinitions[0].mountPoints[0].containerPath",
    ],
    [
      "a containerPath of /",
      {
        ...base,
        volumes: [{ name: "v" }],
        containerDefinitions: [{ name: "a", image: "i", mountPoints: [mp("v", "/")] }],
      },
      "containerDefinitions[0].mountPoints[0].containerPath",
    ],
    [
      "two mount points at one path",
      {
        ...base,
        volumes: [{ name: "v" }, { name: "w" }],
        containerDefinitions: [{ name: "a", image: "i", mountPoints: [mp("v", "/x"), mp("w", "/x/")] }],
      },
      "containerDefinitions[0].mountPoints[1].containerPath",
    ],
    [
      "a non-boolean readOnly",
      {
        ...base,
        volumes: [{ name: "v" }],
        containerDefinitions: [{ name: "a", image: "i", mountPoints: [{ ...mp("v", "/x"), readOnly: "yes" }] }],
      },
      "containerDefinitions[0].mountPoints[0].readOnly",
    ],
    [
      "a relative host.sourcePath",
      { ...base, volumes: [{ name: "v", host: { sourcePath: "data" } }] },
      "volumes[0].host.sourcePath",
    ],
    ["a duplicate volume name", { ...base, volumes: [{ name: "v" }, { name: "v" }] }, "volumes[1].name"],
    ["a bad volume name", { ...base, volumes: [{ name: "a/b" }] }, "volumes[0].name"],
    [
      "an EFS volume",
      { ...base, volumes: [{ name: "v", efsVolumeConfiguration: { fileSystemId: "fs-1" } }] },
      "volumes[0].efsVolumeConfiguration",
    ],
    [
      "volumesFrom an unknown container",
      { ...base, containerDefinitions: [{ name: "a", image: "i", volumesFrom: [{ sourceContainer: "x" }] }] },
      "containerDefinitions[0].volumesFrom[0].sourceContainer",
    ],
    [
      "volumesFrom itself",
      { ...base, containerDefinitions: [{ name: "a", image: "i", volumesFrom: [{ sourceContainer: "a" }] }] },
      "containerDefinitions[0].volumesFrom[0].sourceContainer",
    ],
    [
      "a volumesFrom cycle",
      {
        ...base,
        containerDefinitions: [
          { name: "a", image: "i", volumesFrom: [{ sourceContainer: "b" }] },
          { name: "b", image: "i", volumesFrom: [{ sourceContainer: "a" }] },
        ],
      },
      "containerDefinitions",
    ],
    [
      "two inherited volumes at one path",
      {
        ...base,
        volumes: [{ name: "v" }, { name: "w" }],
        containerDefinitions: [
          { name: "a", image: "i", essential: false, mountPoints: [mp("v", "/x")] },
          { name: "b", image: "i", essential: false, mountPoints: [mp("w", "/x")] },
          { name: "c", image: "i", volumesFrom: [{ sourceContainer: "a" }, { sourceContainer: "b" }] },
        ],
      },
      "containerDefinitions",
    ],
    [
      "a non-boolean readonlyRootFilesystem",
      { ...base, containerDefinitions: [{ name: "a", image: "i", readonlyRootFilesystem: 1 }] },
      "containerDefinitions[0].readonlyRootFilesystem",
    ],
    [
      "an environment file of another type",
      {
        ...base,
        containerDefinitions: [{ name: "a", image: "i", environmentFiles: [{ value: "a.env", type: "ssm" }] }],
      },
      "containerDefinitions[0].environmentFiles[0].type",
    ],
    [
      "an environment file not ending in .env",
      {
        ...base,
        containerDefinitions: [{ name: "a", image: "i", environmentFiles: [{ value: "a.txt", type: "s3" }] }],
      },
      "containerDefinitions[0].environmentFiles[0].value",
    ],
    [
      "eleven environment files",
      {
        ...base,
        containerDefinitions: [
          {
            name: "a",
            image: "i",
            environmentFiles: Array.from({ length: 11 }, (_, k) => ({ value: `${k}.env`, type: "s3" })),
          },
        ],
      },
      "containerDefinitions[0].environmentFiles",
    ],
    [
      "a health check without CMD",
      hc({ command: ["curl", "localhost"] }),
      "containerDefinitions[0].healthCheck.command",
    ],
    [
      "a health check with no command after CMD",
      hc({ command: ["CMD"] }),
      "containerDefinitions[0].healthCheck.command",
    ],
    ["an interval below 5", hc({ interval: 4 }), "containerDefinitions[0].healthCheck.interval"],
    ["an interval above 300", hc({ interval: 301 }), "containerDefinitions[0].healthCheck.interval"],
    ["a timeout below 2", hc({ timeout: 1 }), "containerDefinitions[0].healthCheck.timeout"],
    ["a timeout above 60", hc({ timeout: 61 }), "containerDefinitions[0].healthCheck.timeout"],
    ["retries of 0", hc({ retries: 0 }), "containerDefinitions[0].healthCheck.retries"],
    ["retries above 10", hc({ retries: 11 }), "containerDefinitions[0].healthCheck.retries"],
    ["a fractional startPeriod", hc({ startPeriod: 1.5 }), "containerDefinitions[0].healthCheck.startPeriod"],
    ["a startPeriod above 300", hc({ startPeriod: 301 }), "containerDefinitions[0].healthCheck.startPeriod"],
    ["ephemeral storage below 21 GiB", { ...base, ephemeralStorage: { sizeInGiB: 20 } }, "ephemeralStorage.sizeInGiB"],
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
