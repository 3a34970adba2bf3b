import { describe, expect, it } from "vitest";
import { MetadataError } from "./errors.js";
import { ec2CurlContainer, ec2TagErrors, ec2Task, fargateTask, fixture } from "./fixtures/models.js";
import { containerResponseV4, taskResponseV4 } from "./v4-json.js";
import type { ContainerState, TaskState } from "./v4-types.js";

// Field order of the agent's Go structs (ecs-agent/tmds/handlers/v2/response.go, embedded first,
// then ecs-agent/tmds/handlers/v4/state/response.go); encoding/json writes fields in this order.
const TASK_V4_KEYS = [
  "Cluster",
  "TaskARN",
  "Family",
  "Revision",
  "DesiredStatus",
  "KnownStatus",
  "Limits",
  "PullStartedAt",
  "PullStoppedAt",
  "ExecutionStoppedAt",
  "AvailabilityZone",
  "TaskTags",
  "ContainerInstanceTags",
  "LaunchType",
  "Errors",
  "Containers",
  "VPCID",
  "ServiceName",
  "Group",
  "ClockDrift",
  "EphemeralStorageMetrics",
  "FaultInjectionEnabled",
  "AvailabilityZoneID",
];
const CONTAINER_V4_KEYS = [
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
  "Health",
  "Volumes",
  "LogDriver",
  "LogOptions",
  "ContainerARN",
  "Networks",
  "Snapshotter",
  "RestartCount",
];
const NETWORK_V4_KEYS = [
  "NetworkMode",
  "IPv4Addresses",
  "IPv6Addresses",
  "AttachmentIndex",
  "MACAddress",
  "IPv4SubnetCIDRBlock",
  "IPv6SubnetCIDRBlock",
  "DomainNameServers",
  "DomainNameSearchList",
  "PrivateDNSName",
  "SubnetGatewayIpv4Address",
  "SubnetGatewayIpv6Address",
];

/** The keys of `value` must appear in the Go struct's order. */
function expectGoOrder(value: object, order: readonly string[]): void {
  const keys = Object.keys(value);
  expect(keys.every((k) => order.includes(k))).toBe(true);
  expect(keys).toStrictEqual(order.filter((k) => keys.includes(k)));
}

type Json = Record<string, unknown>;

/**
 * The 2020 EC2 examples predate two agent changes the source shows today: `FaultInjectionEnabled`
 * (no omitempty, so always present) and the minimum container CPU of 2 (agent commit 43af66399,
 * January 2021: "Set default CPU limit as 2 and show in TMDEv2/v3/v4 task metadata").
 */
function asCurrentAgent(example: Json): Json {
  const copy = structuredClone(example);
  copy.FaultInjectionEnabled = false;
  for (const container of copy.Containers as Json[]) {
    const limits = container.Limits as Json;
    if (limits.CPU === 0) limits.CPU = 2;
  }
  return copy;
}

function task(overrides: Partial<TaskState> = {}): TaskState {
  return {
    cluster: "c",
    arn: "arn:t",
    family: "f",
    revision: "1",
    knownStatus: "RUNNING",
    containers: [],
    ...overrides,
  };
}

function container(overrides: Partial<ContainerState> = {}): ContainerState {
  return {
    runtimeId: "id",
    name: "app",
    runtimeName: "app-1",
    image: "busybox",
    imageId: "",
    desiredStatus: "RUNNING",
    knownStatus: "RUNNING",
    ...overrides,
  };
}

function invalid(result: { _unsafeUnwrapErr(): MetadataError }, field: string): MetadataError {
  const error = result._unsafeUnwrapErr();
  expect(MetadataError.is(error)).toBe(true);
  expect(error.code).toBe("InvalidInput");
  expect(error.field).toBe(field);
  expect(error.message.startsWith(`${field}: `)).toBe(true);
  return error;
}

describe("containerResponseV4: golden shape (AWS doc, EC2 container example)", () => {
  it("produces the example byte for byte, key order included", () => {
    const actual = containerResponseV4(ec2CurlContainer)._unsafeUnwrap();
    expect(JSON.stringify(actual)).toBe(JSON.stringify(fixture("v4-container-ec2.json")));
  });

  it("matches the example's keys, types and values", () => {
    const actual = containerResponseV4(ec2CurlContainer)._unsafeUnwrap() as unknown as Json;
    const example = fixture("v4-container-ec2.json");
    expect(Object.keys(actual)).toStrictEqual(Object.keys(example));
    for (const key of Object.keys(example)) expect(typeof actual[key]).toBe(typeof example[key]);
    expect(actual).toStrictEqual(example);
  });
});

describe("taskResponseV4: golden shapes (AWS doc examples)", () => {
  it("/task on EC2 equals the example, with the current agent's two additions", () => {
    const actual = taskResponseV4(ec2Task)._unsafeUnwrap();
    expect(actual).toStrictEqual(asCurrentAgent(fixture("v4-task-ec2.json")));
    // The doc lists ServiceName and VPCID early; the agent's encoder writes them after Containers.
    expectGoOrder(actual, TASK_V4_KEYS);
    for (const c of actual.Containers ?? []) {
      expectGoOrder(c, CONTAINER_V4_KEYS);
      for (const n of c.Networks ?? []) expectGoOrder(n, NETWORK_V4_KEYS);
    }
  });

  it("/task leaves tags and tag errors out even when the model has them", () => {
    const actual = taskResponseV4({ ...ec2Task, tagErrors: ec2TagErrors })._unsafeUnwrap();
    expect(actual.TaskTags).toBeUndefined();
    expect(actual.ContainerInstanceTags).toBeUndefined();
    expect(actual.Errors).toBeUndefined();
  });

  it("/taskWithTags equals the tags example", () => {
    const actual = taskResponseV4(ec2Task, { withTags: true })._unsafeUnwrap();
    expect(actual).toStrictEqual(asCurrentAgent(fixture("v4-task-with-tags-ec2.json")));
    expectGoOrder(actual, TASK_V4_KEYS);
  });

  it("/taskWithTags equals the tags-with-errors example", () => {
    const { tags: _t, containerInstanceTags: _c, ...untagged } = ec2Task;
    const actual = taskResponseV4({ ...untagged, tagErrors: ec2TagErrors }, { withTags: true })._unsafeUnwrap();
    expect(actual).toStrictEqual(asCurrentAgent(fixture("v4-task-with-tags-errors-ec2.json")));
    expectGoOrder(actual, TASK_V4_KEYS);
  });

  it("produces the 2025 Fargate example byte for byte (ClockDrift, Snapshotter, CPU 2 without Memory)", () => {
    const actual = taskResponseV4(fargateTask)._unsafeUnwrap();
    expect(JSON.stringify(actual)).toBe(JSON.stringify(fixture("v4-task-fargate.json")));
  });

  it("has the types the examples have", () => {
    const actual = taskResponseV4(fargateTask)._unsafeUnwrap();
    expect(typeof actual.Revision).toBe("string");
    expect(typeof actual.Limits?.CPU).toBe("number");
    expect(typeof actual.FaultInjectionEnabled).toBe("boolean");
    expect(typeof actual.ClockDrift?.ClockErrorBound).toBe("number");
    expect(Array.isArray(actual.Containers?.[0]?.Networks?.[0]?.IPv4Addresses)).toBe(true);
  });
});

describe("omitempty: fields the agent omits when empty, and those it always writes", () => {
  it("a minimal container keeps DockerId, Name, DockerName, Image, ImageID (even empty), statuses, Limits and Type", () => {
    expect(containerResponseV4(container())._unsafeUnwrap()).toStrictEqual({
      DockerId: "id",
      Name: "app",
      DockerName: "app-1",
      Image: "busybox",
      ImageID: "",
      DesiredStatus: "RUNNING",
      KnownStatus: "RUNNING",
      Limits: { CPU: 2 },
      Type: "NORMAL",
    });
  });

  it("a minimal task keeps Cluster, TaskARN, Family, Revision, KnownStatus and FaultInjectionEnabled", () => {
    expect(taskResponseV4(task())._unsafeUnwrap()).toStrictEqual({
      Cluster: "c",
      TaskARN: "arn:t",
      Family: "f",
      Revision: "1",
      KnownStatus: "RUNNING",
      FaultInjectionEnabled: false,
    });
  });

  it("keeps empty strings where the agent has no omitempty", () => {
    const actual = containerResponseV4(
      container({ runtimeId: "", name: "", runtimeName: "", image: "" }),
    )._unsafeUnwrap();
    expect(actual).toMatchObject({ DockerId: "", Name: "", DockerName: "", Image: "", ImageID: "" });
    const t = taskResponseV4(task({ cluster: "", arn: "", family: "", revision: "" }))._unsafeUnwrap();
    expect(t).toMatchObject({ Cluster: "", TaskARN: "", Family: "", Revision: "" });
  });

  it("omits empty strings, maps and lists", () => {
    const actual = containerResponseV4(
      container({
        labels: {},
        ports: [],
        volumes: [],
        logDriver: "",
        logOptions: {},
        arn: "",
        networks: [],
        snapshotter: "",
      }),
    )._unsafeUnwrap();
    expect(Object.keys(actual)).toStrictEqual([
      "DockerId",
      "Name",
      "DockerName",
      "Image",
      "ImageID",
      "DesiredStatus",
      "KnownStatus",
      "Limits",
      "Type",
    ]);
    const t = taskResponseV4(
      task({
        availabilityZone: "",
        vpcId: "",
        serviceName: "",
        group: "",
        availabilityZoneId: "",
        tags: {},
        tagErrors: [],
      }),
      { withTags: true },
    )._unsafeUnwrap();
    expect(Object.keys(t)).toStrictEqual([
      "Cluster",
      "TaskARN",
      "Family",
      "Revision",
      "KnownStatus",
      "FaultInjectionEnabled",
    ]);
  });

  it("writes zero for pointer fields that are set (ExitCode, RestartCount, AttachmentIndex, Memory)", () => {
    const actual = containerResponseV4(
      container({
        exitCode: 0,
        restartCount: 0,
        limits: { memory: 0 },
        networks: [{ mode: "awsvpc", attachmentIndex: 0 }],
      }),
    )._unsafeUnwrap();
    expect(actual.ExitCode).toBe(0);
    expect(actual.RestartCount).toBe(0);
    expect(actual.Limits).toStrictEqual({ CPU: 2, Memory: 0 });
    expect(actual.Networks).toStrictEqual([{ NetworkMode: "awsvpc", AttachmentIndex: 0 }]);
  });

  it("reports container CPU below 2 as 2, as the agent does, and keeps larger values", () => {
    expect(containerResponseV4(container({ limits: { cpu: 1 } }))._unsafeUnwrap().Limits).toStrictEqual({ CPU: 2 });
    expect(containerResponseV4(container({ limits: { cpu: 2 } }))._unsafeUnwrap().Limits).toStrictEqual({ CPU: 2 });
    expect(containerResponseV4(container({ limits: { cpu: 256, memory: 512 } }))._unsafeUnwrap().Limits).toStrictEqual({
      CPU: 256,
      Memory: 512,
    });
  });

  it("omits task limits that are zero, and Limits when both are", () => {
    expect(taskResponseV4(task({ limits: { cpu: 0, memory: 0 } }))._unsafeUnwrap().Limits).toBeUndefined();
    expect(taskResponseV4(task({ limits: {} }))._unsafeUnwrap().Limits).toBeUndefined();
    expect(taskResponseV4(task({ limits: { cpu: 0.5 } }))._unsafeUnwrap().Limits).toStrictEqual({ CPU: 0.5 });
    expect(taskResponseV4(task({ limits: { cpu: 0, memory: 1024 } }))._unsafeUnwrap().Limits).toStrictEqual({
      Memory: 1024,
    });
  });

  it("omits an UNKNOWN health status and a zero health exit code, keeping the health object", () => {
    expect(
      containerResponseV4(container({ health: { status: "UNKNOWN", exitCode: 0 } }))._unsafeUnwrap().Health,
    ).toStrictEqual({});
    const health = containerResponseV4(
      container({ health: { status: "UNHEALTHY", since: "2024-05-01T10:00:00.5Z", exitCode: 1, output: "fail" } }),
    )._unsafeUnwrap().Health;
    expect(health).toStrictEqual({
      status: "UNHEALTHY",
      statusSince: "2024-05-01T10:00:00.5Z",
      exitCode: 1,
      output: "fail",
    });
  });

  it("omits zero ports and empty port fields; v4 keeps HostIp", () => {
    const actual = containerResponseV4(
      container({
        ports: [
          { containerPort: 80, protocol: "tcp", hostPort: 8080, hostIp: "0.0.0.0" },
          { containerPort: 53, protocol: "udp", hostPort: 0, hostIp: "" },
        ],
      }),
    )._unsafeUnwrap();
    expect(actual.Ports).toStrictEqual([
      { ContainerPort: 80, Protocol: "tcp", HostPort: 8080, HostIp: "0.0.0.0" },
      { ContainerPort: 53, Protocol: "udp" },
    ]);
  });

  it("always writes EphemeralStorageMetrics' two numbers, and omits a zero clock error bound", () => {
    const actual = taskResponseV4(
      task({ ephemeralStorage: { utilizedMiB: 0, reservedMiB: 0 }, clockDrift: { clockErrorBound: 0 } }),
    )._unsafeUnwrap();
    expect(actual.EphemeralStorageMetrics).toStrictEqual({ Utilized: 0, Reserved: 0 });
    expect(actual.ClockDrift).toStrictEqual({});
  });
});

describe("full models: every field, in the agent's order", () => {
  const full: ContainerState = container({
    ports: [{ containerPort: 80, protocol: "tcp", hostPort: 80, hostIp: "10.0.0.5" }],
    labels: { b: "2", a: "1", é: "3", Z: "0" },
    exitCode: 137,
    limits: { cpu: 512, memory: 1024 },
    createdAt: "2024-01-01T00:00:00.000000001Z",
    startedAt: new Date(Date.UTC(2024, 0, 1, 0, 0, 1, 500)),
    finishedAt: "2024-01-01T00:10:00+00:00",
    type: "NORMAL",
    health: { status: "HEALTHY", since: "2024-01-01T00:00:05Z", output: "ok" },
    volumes: [{ name: "data", source: "/var/lib/berth/data", destination: "/data" }],
    logDriver: "awslogs",
    logOptions: { "awslogs-group": "/g" },
    arn: "arn:aws:ecs:us-east-1:1:container/x",
    networks: [
      {
        mode: "awsvpc",
        ipv4Addresses: ["10.0.0.5"],
        ipv6Addresses: ["2600:1f18::5"],
        attachmentIndex: 0,
        macAddress: "0a:00:00:00:00:01",
        ipv4SubnetCidrBlock: "10.0.0.0/24",
        ipv6SubnetCidrBlock: "2600:1f18::/64",
        domainNameServers: ["10.0.0.2"],
        domainNameSearchList: ["ec2.internal"],
        privateDnsName: "ip-10-0-0-5.ec2.internal",
        subnetGatewayIpv4Address: "10.0.0.1/24",
        subnetGatewayIpv6Address: "2600:1f18::1/64",
      },
    ],
    snapshotter: "overlayfs",
    restartCount: 3,
  });

  it("a container with every field has exactly the agent's keys, in order, with map keys sorted by bytes", () => {
    const actual = containerResponseV4(full)._unsafeUnwrap();
    expect(Object.keys(actual)).toStrictEqual(CONTAINER_V4_KEYS);
    expect(Object.keys(actual.Networks?.[0] ?? {})).toStrictEqual(NETWORK_V4_KEYS);
    expect(Object.keys(actual.Labels ?? {})).toStrictEqual(["Z", "a", "b", "é"]);
    expect(actual.CreatedAt).toBe("2024-01-01T00:00:00.000000001Z");
    expect(actual.StartedAt).toBe("2024-01-01T00:00:01.5Z");
    expect(actual.FinishedAt).toBe("2024-01-01T00:10:00Z");
    expect(actual.Volumes).toStrictEqual([{ DockerName: "data", Source: "/var/lib/berth/data", Destination: "/data" }]);
  });

  it("keeps map keys that collide with Object.prototype as ordinary entries", () => {
    const labels = JSON.parse('{"__proto__":"p","constructor":"c"}') as Record<string, string>;
    const actual = containerResponseV4(container({ labels }))._unsafeUnwrap();
    expect(JSON.stringify(actual.Labels)).toBe('{"__proto__":"p","constructor":"c"}');
  });

  it("a task with every field has exactly the agent's keys, in order", () => {
    const actual = taskResponseV4(
      task({
        desiredStatus: "RUNNING",
        limits: { cpu: 1, memory: 2048 },
        pullStartedAt: "2024-01-01T00:00:00Z",
        pullStoppedAt: "2024-01-01T00:00:01Z",
        executionStoppedAt: "2024-01-01T01:00:00Z",
        availabilityZone: "us-east-1a",
        tags: { team: "a" },
        containerInstanceTags: { pool: "b" },
        launchType: "FARGATE",
        tagErrors: [{ field: "TaskTags", code: "ThrottlingException" }],
        containers: [full],
        vpcId: "vpc-1",
        serviceName: "web",
        group: "service:web",
        clockDrift: {
          clockErrorBound: 0.25,
          referenceTimestamp: "2024-01-01T00:00:00Z",
          synchronizationStatus: "NOT_SYNCHRONIZED",
        },
        ephemeralStorage: { utilizedMiB: 208, reservedMiB: 20496 },
        faultInjectionEnabled: true,
        availabilityZoneId: "use1-az4",
      }),
      { withTags: true },
    )._unsafeUnwrap();
    expect(Object.keys(actual)).toStrictEqual(TASK_V4_KEYS);
    expect(actual.Errors).toStrictEqual([{ ErrorField: "TaskTags", ErrorCode: "ThrottlingException" }]);
    expect(actual.ClockDrift).toStrictEqual({
      ClockErrorBound: 0.25,
      ReferenceTimestamp: "2024-01-01T00:00:00Z",
      ClockSynchronizationStatus: "NOT_SYNCHRONIZED",
    });
    expect(actual.FaultInjectionEnabled).toBe(true);
    expect(actual.Revision).toBe("1");
  });
});

describe("networks", () => {
  const eni = { mode: "awsvpc", ipv4Addresses: ["10.0.0.9"] };

  it("reports the task's networks for containers without their own", () => {
    const t = task({ networks: [eni], containers: [container()] });
    expect(taskResponseV4(t)._unsafeUnwrap().Containers?.[0]?.Networks).toStrictEqual([
      { NetworkMode: "awsvpc", IPv4Addresses: ["10.0.0.9"] },
    ]);
    expect(containerResponseV4(container(), t)._unsafeUnwrap().Networks).toStrictEqual([
      { NetworkMode: "awsvpc", IPv4Addresses: ["10.0.0.9"] },
    ]);
  });

  it("prefers the container's own networks, and reports none without either", () => {
    const own = container({ networks: [{ mode: "bridge", ipv4Addresses: ["172.17.0.2"] }] });
    expect(containerResponseV4(own, task({ networks: [eni] }))._unsafeUnwrap().Networks).toStrictEqual([
      { NetworkMode: "bridge", IPv4Addresses: ["172.17.0.2"] },
    ]);
    expect(containerResponseV4(container())._unsafeUnwrap().Networks).toBeUndefined();
  });

  it("revision numbers are written as strings", () => {
    expect(taskResponseV4(task({ revision: 26 }))._unsafeUnwrap().Revision).toBe("26");
  });
});

describe("invalid models fail with InvalidInput naming the field", () => {
  it.each([
    [
      "a bad timestamp",
      task({ containers: [container(), container({ startedAt: "soon" })] }),
      "task.containers[1].startedAt",
    ],
    ["a bad task status", task({ knownStatus: "PENDING" as never }), "task.knownStatus"],
    [
      "a bad container status",
      task({ containers: [container({ desiredStatus: "UP" as never })] }),
      "task.containers[0].desiredStatus",
    ],
    ["a fractional memory", task({ limits: { memory: 1.5 } }), "task.limits.memory"],
    ["a NaN task CPU", task({ limits: { cpu: Number.NaN } }), "task.limits.cpu"],
    ["a negative task CPU", task({ limits: { cpu: -1 } }), "task.limits.cpu"],
    [
      "a fractional container CPU",
      task({ containers: [container({ limits: { cpu: 0.5 } })] }),
      "task.containers[0].limits.cpu",
    ],
    [
      "a non-string label",
      task({ containers: [container({ labels: { a: 1 as never } })] }),
      'task.containers[0].labels["a"]',
    ],
    [
      "an out-of-range port",
      task({ containers: [container({ ports: [{ containerPort: 70000 }] })] }),
      "task.containers[0].ports[0].containerPort",
    ],
    [
      "an unknown protocol",
      task({ containers: [container({ ports: [{ protocol: "sctp" as never }] })] }),
      "task.containers[0].ports[0].protocol",
    ],
    ["a fractional exit code", task({ containers: [container({ exitCode: 1.5 })] }), "task.containers[0].exitCode"],
    [
      "an unknown container type",
      task({ containers: [container({ type: "SIDECAR" as never })] }),
      "task.containers[0].type",
    ],
    [
      "a non-string address",
      task({ networks: [{ ipv4Addresses: [1 as never] }], containers: [container()] }),
      "task.networks[0].ipv4Addresses[0]",
    ],
    [
      "a missing storage value",
      task({ ephemeralStorage: { utilizedMiB: 1 } as never }),
      "task.ephemeralStorage.reservedMiB",
    ],
    ["an unknown launch type", task({ launchType: "LAMBDA" as never }), "task.launchType"],
    ["a non-boolean fault flag", task({ faultInjectionEnabled: "yes" as never }), "task.faultInjectionEnabled"],
    ["a missing arn", task({ arn: undefined as never }), "task.arn"],
    ["containers that are not an array", task({ containers: {} as never }), "task.containers"],
  ])("%s", (_why, model, field) => {
    invalid(taskResponseV4(model, { withTags: true }), field);
  });

  it("reports the first problem found", () => {
    const error = invalid(taskResponseV4(task({ arn: 1 as never, family: 2 as never })), "task.arn");
    expect(error.message).toContain("expected a string, got 1");
  });

  it("rejects a task that is not an object", () => {
    invalid(taskResponseV4(null as never), "task");
  });

  it("validates a single container too", () => {
    invalid(containerResponseV4(container({ createdAt: new Date(Number.NaN) })), "container.createdAt");
    invalid(
      containerResponseV4(container({ networks: [{ attachmentIndex: -1 }] })),
      "container.networks[0].attachmentIndex",
    );
    invalid(containerResponseV4(container(), task({ networks: [{ mode: 5 as never }] })), "task.networks[0].mode");
  });

  it("does not validate tag errors that /task does not report", () => {
    expect(taskResponseV4(task({ tagErrors: [{ statusCode: 1.5 }] })).isOk()).toBe(true);
  });
});
