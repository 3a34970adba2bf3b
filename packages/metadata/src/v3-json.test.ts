import { describe, expect, it } from "vitest";
import { MetadataError } from "./errors.js";
import { ec2Task, fixture, v3NginxContainer, v3Task } from "./fixtures/models.js";
import { containerResponseV3, taskResponseV3 } from "./v3-json.js";
import type { ContainerState } from "./v4-types.js";

// Field order of the agent's v2 structs (ecs-agent/tmds/handlers/v2/response.go), which v3 serves.
const TASK_V3_KEYS = [
  "Cluster",
  "TaskARN",
  "Family",
  "Revision",
  "DesiredStatus",
  "KnownStatus",
  "Containers",
  "Limits",
  "PullStartedAt",
  "PullStoppedAt",
  "ExecutionStoppedAt",
  "AvailabilityZone",
  "TaskTags",
  "ContainerInstanceTags",
];
const CONTAINER_V3_KEYS = [
  "DockerId",
  "Name",
  "DockerName",
  "Image",
  "ImageID",
  "Ports",
  "Labels",
  "DesiredStatus",
  "KnownStatus",
  "ExitCode",
  "Limits",
  "CreatedAt",
  "StartedAt",
  "FinishedAt",
  "Type",
  "Networks",
  "Health",
  "Volumes",
];

describe("containerResponseV3: golden shape (AWS doc v3 container example)", () => {
  it("produces the example byte for byte, dropping the model's v4-only fields", () => {
    const actual = containerResponseV3(v3NginxContainer, v3Task)._unsafeUnwrap();
    expect(JSON.stringify(actual)).toBe(JSON.stringify(fixture("v3-container.json")));
  });
});

describe("taskResponseV3: golden shape (AWS doc v3 task example)", () => {
  it("equals the example byte for byte, except the pause container's CPU the current agent raises to 2", () => {
    const example = fixture("v3-task.json");
    const pause = (example.Containers as Array<{ Limits: { CPU: number } }>)[0];
    if (pause) pause.Limits.CPU = 2;
    const actual = taskResponseV3(v3Task)._unsafeUnwrap();
    expect(JSON.stringify(actual)).toBe(JSON.stringify(example));
  });

  it("puts Containers right after KnownStatus and has no v4-only keys", () => {
    const actual = taskResponseV3(
      { ...ec2Task, limits: { cpu: 1 }, executionStoppedAt: "2024-01-01T00:00:00Z", tagErrors: [{ code: "X" }] },
      { withTags: true },
    )._unsafeUnwrap();
    expect(Object.keys(actual)).toStrictEqual(TASK_V3_KEYS);
    expect(actual).not.toHaveProperty("Errors");
    expect(actual).not.toHaveProperty("LaunchType");
    expect(actual).not.toHaveProperty("FaultInjectionEnabled");
    expect(actual.TaskTags).toStrictEqual({ "tag-use": "task-metadata-endpoint-test" });
  });

  it("reports no tags without withTags", () => {
    const actual = taskResponseV3(ec2Task)._unsafeUnwrap();
    expect(actual.TaskTags).toBeUndefined();
    expect(actual.ContainerInstanceTags).toBeUndefined();
  });
});

describe("containerResponseV3: every field", () => {
  it("has the v2 struct's keys in order, Networks between Type and Health, no HostIp", () => {
    const full: ContainerState = {
      ...v3NginxContainer,
      ports: [{ containerPort: 80, protocol: "tcp", hostPort: 8080, hostIp: "0.0.0.0" }],
      exitCode: 0,
      finishedAt: "2018-02-01T21:00:00Z",
      health: { status: "HEALTHY" },
      volumes: [{ name: "v", destination: "/v" }],
      networks: [{ mode: "bridge", ipv4Addresses: ["172.17.0.2"], macAddress: "02:42:ac:11:00:02" }],
    };
    const actual = containerResponseV3(full)._unsafeUnwrap();
    expect(Object.keys(actual)).toStrictEqual(CONTAINER_V3_KEYS);
    expect(actual.Ports).toStrictEqual([{ ContainerPort: 80, Protocol: "tcp", HostPort: 8080 }]);
    expect(actual.Networks).toStrictEqual([{ NetworkMode: "bridge", IPv4Addresses: ["172.17.0.2"] }]);
  });

  it("fails with InvalidInput naming the field", () => {
    const error = containerResponseV3({ ...v3NginxContainer, knownStatus: "GONE" as never })._unsafeUnwrapErr();
    expect(MetadataError.is(error)).toBe(true);
    expect(error.field).toBe("container.knownStatus");
    const taskError = taskResponseV3({ ...v3Task, pullStartedAt: "2018-02-30T00:00:00Z" })._unsafeUnwrapErr();
    expect(taskError.field).toBe("task.pullStartedAt");
  });
});
