// The server on 127.0.0.1 port 0 (loopback only; no daemons, no root).
import { execFile } from "node:child_process";
import { createConnection } from "node:net";
import { promisify } from "node:util";
import { errAsync, ok, okAsync, ResultAsync } from "neverthrow";
import { afterEach, describe, expect, it } from "vitest";
import type { DockerStats } from "./docker-stats.js";
import { newEndpointId } from "./endpoint-id.js";
import { MetadataError } from "./errors.js";
import { ec2Task, fixture, v3Task } from "./fixtures/models.js";
import { createTaskRegistry, type TaskRegistry } from "./registry.js";
import { type MetadataServer, type MetadataServerOptions, startMetadataServer } from "./server.js";
import type { StatsProvider } from "./stats-provider.js";
import { get, raw } from "./test-support.js";
import { taskResponseV3 } from "./v3-json.js";
import { taskResponseV4 } from "./v4-json.js";

const execFileAsync = promisify(execFile);
const servers: MetadataServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function start(options: Partial<MetadataServerOptions> & { provider: MetadataServerOptions["provider"] }) {
  const server = (await startMetadataServer({ throttle: false, ...options }))._unsafeUnwrap();
  servers.push(server);
  return server;
}

function setup(): { registry: TaskRegistry; pauseId: string; curlId: string; v3Id: string } {
  const registry = createTaskRegistry();
  const pauseId = newEndpointId();
  const curlId = newEndpointId();
  const v3Id = newEndpointId();
  const [pause, curl] = ec2Task.containers;
  registry
    .registerTask(ec2Task, { [pause?.runtimeId ?? ""]: pauseId, [curl?.runtimeId ?? ""]: curlId })
    ._unsafeUnwrap();
  registry.registerTask(v3Task, { [v3Task.containers[0]?.runtimeId ?? ""]: v3Id })._unsafeUnwrap();
  return { registry, pauseId, curlId, v3Id };
}

const fakeStats = (id: string, name: string): DockerStats => ({
  read: "2026-01-01T00:00:01Z",
  preread: "2026-01-01T00:00:00Z",
  pids_stats: { current: 1 },
  blkio_stats: {
    io_service_bytes_recursive: null,
    io_serviced_recursive: null,
    io_queue_recursive: null,
    io_service_time_recursive: null,
    io_wait_time_recursive: null,
    io_merged_recursive: null,
    io_time_recursive: null,
    sectors_recursive: null,
  },
  num_procs: 0,
  storage_stats: {},
  cpu_stats: {
    cpu_usage: { total_usage: 5, usage_in_kernelmode: 2, usage_in_usermode: 3 },
    throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
  },
  precpu_stats: {
    cpu_usage: { total_usage: 1, usage_in_kernelmode: 0, usage_in_usermode: 1 },
    throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
  },
  memory_stats: { usage: 4096, limit: 8192 },
  name: `/${name}`,
  id,
});

describe("metadata routes", () => {
  it("serves v4 task, taskWithTags and container JSON exactly as the AWS examples", async () => {
    const { registry, curlId } = setup();
    const server = await start({ provider: registry });
    const task = await get(`${server.url}/v4/${curlId}/task`);
    expect(task.status).toBe(200);
    expect(task.headers["content-type"]).toBe("application/json");
    // Byte for byte the builder's output, which v4-json.test.ts checks against the AWS example.
    expect(task.body).toBe(JSON.stringify(taskResponseV4(ec2Task)._unsafeUnwrap()));
    expect(JSON.parse(task.body).TaskARN).toBe(fixture("v4-task-ec2.json").TaskARN);
    const withTags = await get(`${server.url}/v4/${curlId}/taskWithTags`);
    expect(withTags.status).toBe(200);
    expect(JSON.parse(withTags.body)).toHaveProperty("TaskTags", { "tag-use": "task-metadata-endpoint-test" });
    const container = await get(`${server.url}/v4/${curlId}`);
    expect(container.status).toBe(200);
    expect(JSON.parse(container.body)).toStrictEqual(JSON.parse(task.body).Containers[1]);
  });

  it("serves v3 task and container JSON as the AWS examples", async () => {
    const { registry, v3Id } = setup();
    const server = await start({ provider: registry });
    const task = await get(`${server.url}/v3/${v3Id}/task`);
    expect(task.status).toBe(200);
    expect(task.body).toBe(JSON.stringify(taskResponseV3(v3Task)._unsafeUnwrap()));
    expect(JSON.parse(task.body).TaskARN).toBe(fixture("v3-task.json").TaskARN);
    const container = await get(`${server.url}/v3/${v3Id}`);
    expect(container.status).toBe(200);
    expect(JSON.parse(container.body).DockerId).toBe(v3Task.containers[0]?.runtimeId);
  });

  it("reflects status updates and removal", async () => {
    const { registry, curlId } = setup();
    const server = await start({ provider: registry });
    expect(JSON.parse((await get(`${server.url}/v4/${curlId}/task`)).body).KnownStatus).toBe("RUNNING");
    registry.updateTask(ec2Task.arn, { knownStatus: "STOPPED", desiredStatus: "STOPPED" })._unsafeUnwrap();
    const curl = ec2Task.containers[1]?.runtimeId ?? "";
    registry.updateContainer(ec2Task.arn, curl, { knownStatus: "STOPPED", exitCode: 137 })._unsafeUnwrap();
    const after = JSON.parse((await get(`${server.url}/v4/${curlId}/task`)).body);
    expect(after.KnownStatus).toBe("STOPPED");
    expect(after.Containers[1].ExitCode).toBe(137);
    expect(JSON.parse((await get(`${server.url}/v4/${curlId}`)).body).KnownStatus).toBe("STOPPED");
    registry.removeTask(ec2Task.arn)._unsafeUnwrap();
    expect((await get(`${server.url}/v4/${curlId}/task`)).status).toBe(404);
  });

  it("serves every change from the next request on, for each cached body (v3/v4 task, taskWithTags, container)", async () => {
    const { registry, pauseId, curlId } = setup();
    const server = await start({ provider: registry });
    const paths = [
      `/v4/${curlId}/task`,
      `/v4/${curlId}/taskWithTags`,
      `/v4/${curlId}`,
      `/v4/${pauseId}`,
      `/v3/${curlId}/task`,
      `/v3/${curlId}/taskWithTags`,
      `/v3/${curlId}`,
    ];
    const fetchAll = async () => {
      const out: Record<string, { KnownStatus: string; Containers?: Array<{ ExitCode?: number }>; ExitCode?: number }> =
        {};
      for (const path of paths) {
        const res = await get(`${server.url}${path}`);
        expect(res.status).toBe(200);
        out[path] = JSON.parse(res.body);
      }
      return out;
    };
    const before = await fetchAll();
    // Twice, so the second round is served from the cache.
    expect(await fetchAll()).toStrictEqual(before);
    expect(before[`/v4/${curlId}/task`]?.KnownStatus).toBe("RUNNING");

    registry.updateTask(ec2Task.arn, { knownStatus: "STOPPED", desiredStatus: "STOPPED" })._unsafeUnwrap();
    const afterTask = await fetchAll();
    for (const path of paths.filter((p) => p.endsWith("task") || p.endsWith("taskWithTags"))) {
      expect(afterTask[path]?.KnownStatus).toBe("STOPPED");
    }
    expect(afterTask[`/v4/${curlId}/task`]).toStrictEqual(
      JSON.parse(JSON.stringify(taskResponseV4(registry.task(ec2Task.arn) ?? ec2Task)._unsafeUnwrap())),
    );

    const curl = ec2Task.containers[1]?.runtimeId ?? "";
    registry.updateContainer(ec2Task.arn, curl, { knownStatus: "STOPPED", exitCode: 137 })._unsafeUnwrap();
    const afterContainer = await fetchAll();
    expect(afterContainer[`/v4/${curlId}`]?.KnownStatus).toBe("STOPPED");
    expect(afterContainer[`/v4/${curlId}`]?.ExitCode).toBe(137);
    expect(afterContainer[`/v3/${curlId}`]?.ExitCode).toBe(137);
    expect(afterContainer[`/v4/${curlId}/task`]?.Containers?.[1]?.ExitCode).toBe(137);
    expect(afterContainer[`/v3/${curlId}/taskWithTags`]?.Containers?.[1]?.ExitCode).toBe(137);
    // The other container's own body is unchanged; the task it belongs to shows the change too.
    expect(afterContainer[`/v4/${pauseId}`]).toStrictEqual(afterTask[`/v4/${pauseId}`]);
  });

  it("caches per task object: a provider handing out a new object is served the new body", async () => {
    let task: typeof ec2Task = ec2Task;
    const id = newEndpointId();
    let builds = 0;
    const provider = {
      lookup: (endpointId: string) => {
        builds += 1;
        const container = task.containers[1];
        return ok(endpointId === id && container !== undefined ? { task, container } : undefined);
      },
    };
    const server = await start({ provider });
    const first = await get(`${server.url}/v4/${id}/task`);
    expect(JSON.parse(first.body).Family).toBe(ec2Task.family);
    task = { ...ec2Task, family: "changed" };
    const second = await get(`${server.url}/v4/${id}/task`);
    expect(JSON.parse(second.body).Family).toBe("changed");
    task = ec2Task;
    expect((await get(`${server.url}/v4/${id}/task`)).body).toBe(first.body);
    expect(builds).toBe(3);
  });

  it("answers unknown ids with the agent's JSON-encoded strings: 404 on v4, 400 on v3", async () => {
    const { registry } = setup();
    const server = await start({ provider: registry, stats: { containerStats: () => okAsync(undefined) } });
    const bad = newEndpointId();
    const cases: Array<[string, number, string]> = [
      [
        `/v4/${bad}`,
        404,
        `V4 container metadata handler: unable to get container ID from request: unable to get docker ID from v3 endpoint ID: ${bad}`,
      ],
      [
        `/v4/${bad}/task`,
        404,
        `V4 task metadata handler: unable to get task arn from request: unable to get task Arn from v3 endpoint ID: ${bad}`,
      ],
      [
        `/v4/${bad}/taskWithTags`,
        404,
        `V4 task metadata handler: unable to get task arn from request: unable to get task Arn from v3 endpoint ID: ${bad}`,
      ],
      [
        `/v4/${bad}/stats`,
        404,
        `V4 container stats handler: unable to get task arn from request: unable to get task Arn from v3 endpoint ID: ${bad}`,
      ],
      [
        `/v4/${bad}/task/stats`,
        404,
        `V4 task stats handler: unable to get task arn from request: unable to get task Arn from v3 endpoint ID: ${bad}`,
      ],
      [
        "/v4/",
        404,
        "V4 container metadata handler: unable to get container ID from request: unable to get docker ID from v3 endpoint ID: ",
      ],
      [
        `/v3/${bad}`,
        400,
        `V3 container metadata handler: unable to get container ID from request: unable to get docker ID from v3 endpoint ID: ${bad}`,
      ],
      [
        `/v3/${bad}/task`,
        400,
        `V3 task metadata handler: unable to get task arn from request: unable to get task Arn from v3 endpoint ID: ${bad}`,
      ],
    ];
    for (const [path, status, message] of cases) {
      const res = await get(`${server.url}${path}`);
      expect([path, res.status]).toStrictEqual([path, status]);
      expect(res.headers["content-type"]).toBe("application/json");
      expect(res.body).toBe(JSON.stringify(message));
    }
  });

  it("answers 404 text for unknown paths, 405 for wrong methods, 301 for unclean paths, 400 for bad escapes", async () => {
    const { registry, curlId } = setup();
    const server = await start({ provider: registry });
    const unknown = await get(`${server.url}/v4/${curlId}/tasks/everything`);
    expect(unknown.status).toBe(404);
    expect(unknown.body).toBe("404 page not found\n");
    expect(unknown.headers["content-type"]).toBe("text/plain; charset=utf-8");
    expect((await get(`${server.url}/`)).status).toBe(404);
    expect((await get(`${server.url}/v2/credentials/x`)).status).toBe(404); // no credentials provider
    for (const method of ["POST", "PUT", "DELETE", "HEAD", "OPTIONS"]) {
      const res = await get(`${server.url}/v4/${curlId}/task`, { method });
      expect([method, res.status, res.body]).toStrictEqual([method, 405, ""]);
    }
    const dotdot = await get(server.url, { path: `/v4/${curlId}/../${curlId}/task` });
    expect(dotdot.status).toBe(301);
    expect(dotdot.headers.location).toBe(`/v4/${curlId}/task`);
    expect((await get(server.url, { path: "/v4//task" })).status).toBe(301);
    // Dot segments where the id would be, and after a route's tail (the router's clean fast path
    // must not take them for ids).
    for (const [path, location] of [
      ["/v4/./task", "/v4/task"],
      ["/v3/../task", "/task"],
      ["/v4/..", "/"],
      ["/v4/.", "/v4"],
      [`/v4/${curlId}/task/..`, `/v4/${curlId}`],
      [`/v4/${curlId}/./task`, `/v4/${curlId}/task`],
      [`/v3/${curlId}/task/.`, `/v3/${curlId}/task`],
    ] as const) {
      const moved = await get(server.url, { path });
      expect([path, moved.status, moved.headers.location]).toStrictEqual([path, 301, location]);
    }
    // A leading dot that is not a dot segment is part of an (unknown) id.
    const dotted = await get(server.url, { path: "/v4/.x/task" });
    expect([dotted.status, dotted.headers["content-type"]]).toStrictEqual([404, "application/json"]);
    // An encoded slash decodes into a path separator (as Go's URL.Path): never an id containing '/'.
    const encoded = await get(server.url, { path: `/v4/${curlId}%2Ftask` });
    expect(encoded.status).toBe(200);
    expect(JSON.parse(encoded.body).TaskARN).toBe(ec2Task.arn);
    const encodedDots = await get(server.url, { path: `/v4/x%2F..%2F${curlId}` });
    expect(encodedDots.status).toBe(301);
    expect(encodedDots.headers.location).toBe(`/v4/${curlId}`);
    expect((await get(server.url, { path: "/v4/%zz/task" })).status).toBe(400);
    expect((await get(server.url, { path: `/v4/${curlId}/task?x=1` })).status).toBe(200);
  });

  it("answers 500 with the agent's strings when the provider or the model fails, without internals", async () => {
    const boom = new MetadataError("ProviderFailed", "secret /internal/path detail");
    const server = await start({
      provider: {
        lookup: () => {
          throw boom;
        },
      },
    });
    const res = await get(`${server.url}/v4/${newEndpointId()}/task`);
    expect(res.status).toBe(500);
    expect(res.body).toBe(JSON.stringify("failed to get task metadata"));
    expect(res.body).not.toContain("internal");
    const id = newEndpointId();
    const brokenTask = { ...ec2Task, pullStartedAt: "not a time" };
    const container = brokenTask.containers[1];
    const server2 = await start({
      provider: { lookup: (x) => (x === id && container ? okResult(brokenTask, container) : okResult()) },
    });
    const task = await get(`${server2.url}/v4/${id}/task`);
    expect(task.status).toBe(500);
    expect(task.body).toBe(JSON.stringify(`Unable to generate metadata for v4 task: '${ec2Task.arn}'`));
    expect(task.body).not.toMatch(/at |\.ts|node_modules/);
  });
});

function okResult(task?: typeof ec2Task, container?: (typeof ec2Task.containers)[number]) {
  return ok(task === undefined || container === undefined ? undefined : { task, container });
}

describe("stats routes", () => {
  it("serves container stats and task stats keyed by DockerId (null when a container has none)", async () => {
    const { registry, curlId } = setup();
    const stats: StatsProvider = {
      containerStats: (_task, c) =>
        c.name === "curl" ? okAsync(fakeStats(c.runtimeId, c.runtimeName)) : okAsync(undefined),
    };
    const server = await start({ provider: registry, stats });
    const one = await get(`${server.url}/v4/${curlId}/stats`);
    expect(one.status).toBe(200);
    expect(JSON.parse(one.body).id).toBe(ec2Task.containers[1]?.runtimeId);
    const all = JSON.parse((await get(`${server.url}/v4/${curlId}/task/stats`)).body);
    expect(Object.keys(all).sort()).toStrictEqual(ec2Task.containers.map((c) => c.runtimeId).sort());
    expect(all[ec2Task.containers[0]?.runtimeId ?? ""]).toBeNull();
    expect(all[ec2Task.containers[1]?.runtimeId ?? ""].memory_stats.usage).toBe(4096);
  });

  it("adds network_rate_stats on v4 only", async () => {
    const registry = createTaskRegistry();
    const v4id = newEndpointId();
    const curl = ec2Task.containers[1];
    registry.registerTask(ec2Task, { [curl?.runtimeId ?? ""]: v4id })._unsafeUnwrap();
    const stats: StatsProvider = {
      containerStats: (_task, c) =>
        okAsync({
          ...fakeStats(c.runtimeId, c.runtimeName),
          network_rate_stats: { rx_bytes_per_sec: 1, tx_bytes_per_sec: 2 },
        }),
    };
    const server = await start({ provider: registry, stats });
    const v4 = JSON.parse((await get(`${server.url}/v4/${v4id}/stats`)).body);
    expect(v4.network_rate_stats).toStrictEqual({ rx_bytes_per_sec: 1, tx_bytes_per_sec: 2 });
    const v3 = JSON.parse((await get(`${server.url}/v3/${v4id}/stats`)).body);
    expect(v3).not.toHaveProperty("network_rate_stats");
    expect(v3.id).toBe(curl?.runtimeId);
    const v3task = JSON.parse((await get(`${server.url}/v3/${v4id}/task/stats`)).body);
    expect(v3task[curl?.runtimeId ?? ""]).not.toHaveProperty("network_rate_stats");
  });

  it("answers 500 with the agent's strings when stats fail, and without a stats provider", async () => {
    const { registry, curlId } = setup();
    const server = await start({
      provider: registry,
      stats: { containerStats: () => errAsync(new MetadataError("ProviderFailed", "/secret/path")) },
    });
    const one = await get(`${server.url}/v4/${curlId}/stats`);
    expect(one.status).toBe(500);
    expect(one.body).toBe(JSON.stringify(`Unable to get container stats for: ${ec2Task.containers[1]?.runtimeId}`));
    const all = await get(`${server.url}/v4/${curlId}/task/stats`);
    expect(all.status).toBe(500);
    expect(all.body).toBe(JSON.stringify(`Unable to get task stats for: ${ec2Task.arn}`));
    const bare = await start({ provider: registry });
    expect((await get(`${bare.url}/v4/${curlId}/stats`)).status).toBe(500);
  });

  it("gives a stats provider that never answers a deadline", async () => {
    const { registry, curlId } = setup();
    let aborted = false;
    const server = await start({
      provider: registry,
      statsTimeoutMs: 200,
      stats: {
        containerStats: (_t, _c, signal) =>
          ResultAsync.fromPromise(
            new Promise<undefined>((_resolve, reject) => {
              signal.addEventListener("abort", () => {
                aborted = true;
                reject(signal.reason);
              });
            }),
            (cause) => new MetadataError("ProviderFailed", "aborted", { cause }),
          ),
      },
    });
    const res = await get(`${server.url}/v4/${curlId}/stats`);
    expect(res.status).toBe(500);
    expect(aborted).toBe(true);
  });
});

describe("credentials route", () => {
  const creds = {
    roleArn: "arn:aws:iam::111122223333:role/task",
    accessKeyId: "AKIAEXAMPLE",
    secretAccessKey: "secret",
    sessionToken: "session",
    expiration: new Date("2030-01-02T03:04:05.678Z"),
  };

  it("serves ECS's body and error codes", async () => {
    const registry = createTaskRegistry();
    registry.setCredentials("task-1", { status: "ready", credentials: creds })._unsafeUnwrap();
    registry.setCredentials("task-2", { status: "uninitialized" })._unsafeUnwrap();
    const server = await start({ provider: registry, credentials: registry });
    const okRes = await get(`${server.url}/v2/credentials/task-1`);
    expect(okRes.status).toBe(200);
    expect(okRes.headers["content-type"]).toBe("application/json");
    expect(okRes.body).toBe(
      JSON.stringify({
        RoleArn: creds.roleArn,
        AccessKeyId: "AKIAEXAMPLE",
        SecretAccessKey: "secret",
        Token: "session",
        Expiration: "2030-01-02T03:04:05Z",
      }),
    );
    const none = await get(`${server.url}/v2/credentials/`);
    expect(none.status).toBe(400);
    expect(JSON.parse(none.body)).toStrictEqual({
      code: "NoIdInRequest",
      message: "CredentialsV2Request: No Credential ID in the request",
      HTTPErrorCode: 400,
    });
    const unknown = await get(`${server.url}/v2/credentials/task-9`);
    expect(unknown.status).toBe(400);
    expect(JSON.parse(unknown.body)).toStrictEqual({
      code: "InvalidIdInRequest",
      message: "CredentialsV2Request: Credentials not found",
      HTTPErrorCode: 400,
    });
    const uninit = await get(`${server.url}/v2/credentials/task-2`);
    expect(uninit.status).toBe(503);
    expect(JSON.parse(uninit.body).code).toBe("CredentialsUninitialized");
    const failing = await start({
      provider: registry,
      credentials: {
        credentials: () => {
          throw new Error("/var/lib/secret");
        },
      },
    });
    const internal = await get(`${failing.url}/v2/credentials/task-1`);
    expect(internal.status).toBe(500);
    expect(JSON.parse(internal.body)).toStrictEqual({
      code: "InternalServerError",
      message: "Internal server error",
      HTTPErrorCode: 500,
    });
  });

  it("requires the authorization token when the entry has one", async () => {
    const registry = createTaskRegistry();
    registry
      .setCredentials("full-1", { status: "ready", credentials: creds, authorizationToken: "tok-123" })
      ._unsafeUnwrap();
    const server = await start({ provider: registry, credentials: registry });
    expect((await get(`${server.url}/v2/credentials/full-1`)).status).toBe(401);
    expect((await get(`${server.url}/v2/credentials/full-1`, { headers: { Authorization: "tok-124" } })).status).toBe(
      401,
    );
    const good = await get(`${server.url}/v2/credentials/full-1`, { headers: { Authorization: "tok-123" } });
    expect(good.status).toBe(200);
  });
});

describe("limits", () => {
  it("throttles per source address (429 text) without touching other addresses", async () => {
    const { registry, curlId } = setup();
    const server = await start({ provider: registry, throttle: { steadyPerSecond: 1, burst: 5 } });
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await get(`${server.url}/v4/${curlId}/task`)).status);
    expect(statuses.slice(0, 5)).toStrictEqual([200, 200, 200, 200, 200]);
    expect(statuses.slice(5)).toStrictEqual([429, 429, 429]);
    const throttled = await get(`${server.url}/v4/${curlId}/task`);
    expect(throttled.body).toBe("You have reached maximum request limit.");
    expect(throttled.headers["content-type"]).toBe("text/plain; charset=utf-8");
    // Another loopback source address has its own bucket.
    const other = await get(`${server.url}/v4/${curlId}/task`, { localAddress: "127.0.0.2" });
    expect(other.status).toBe(200);
  });

  it("answers 431 to huge paths and headers, 413 to bodies, and keeps serving", async () => {
    const { registry, curlId } = setup();
    const server = await start({ provider: registry, maxHeaderBytes: 4096 });
    const longPath = await raw(server.port, [`GET /v4/${"a".repeat(10_000)}/task HTTP/1.1\r\nHost: x\r\n\r\n`]);
    expect(longPath.text).toMatch(/^HTTP\/1\.1 431 /);
    const bigHeader = await raw(server.port, [
      `GET /v4/${curlId}/task HTTP/1.1\r\nHost: x\r\nX-Big: ${"b".repeat(10_000)}\r\n\r\n`,
    ]);
    expect(bigHeader.text).toMatch(/^HTTP\/1\.1 431 /);
    const body = await raw(server.port, [
      `GET /v4/${curlId}/task HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n${"c".repeat(1000)}`,
    ]);
    expect(body.text).toMatch(/^HTTP\/1\.1 413 /);
    const garbage = await raw(server.port, ["NOT-HTTP\r\n\r\n"]);
    expect(garbage.text).toMatch(/^HTTP\/1\.1 400 /);
    expect((await get(`${server.url}/v4/${curlId}/task`)).status).toBe(200);
  });

  it("finds the body headers in any letter case, and cuts off a chunked body over the limit", async () => {
    const { registry, curlId } = setup();
    const server = await start({ provider: registry, maxBodyBytes: 1024 });
    const declared = await raw(server.port, [
      `GET /v4/${curlId}/task HTTP/1.1\r\nHost: x\r\ncOnTeNt-LeNgTh: 5000\r\n\r\n${"c".repeat(100)}`,
    ]);
    expect(declared.text).toMatch(/^HTTP\/1\.1 413 /);
    const chunk = `400\r\n${"d".repeat(0x400)}\r\n`;
    const chunked = await raw(
      server.port,
      [`GET /v4/${curlId}/task HTTP/1.1\r\nHost: x\r\nTRANSFER-ENCODING: chunked\r\n\r\n`, chunk, chunk, chunk],
      { gapMs: 20, maxMs: 3000 },
    );
    expect(chunked.closedByServer).toBe(true);
    expect(chunked.elapsedMs).toBeLessThan(2500);
    // A small chunked body is within the limit: the connection stays open for the next request.
    const small = await raw(
      server.port,
      [
        `GET /v4/${curlId}/task HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
        `GET /v4/${curlId}/task HTTP/1.1\r\nHost: x\r\n\r\n`,
      ],
      { gapMs: 50, maxMs: 600 },
    );
    expect(small.closedByServer).toBe(false);
    expect(small.text.match(/HTTP\/1\.1 200 /g)).toHaveLength(2);
    expect((await get(`${server.url}/v4/${curlId}/task`)).status).toBe(200);
  });

  it("destroys a connection whose client stops reading responses after the write timeout", async () => {
    const { registry, curlId } = setup();
    const server = await start({ provider: registry, readTimeoutMs: 60_000, writeTimeoutMs: 300 });
    const socket = createConnection({ host: "127.0.0.1", port: server.port });
    try {
      await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
      socket.pause(); // never read: the server's responses pile up until its socket buffer is full
      const started = performance.now();
      const cut = new Promise<number>((resolve) => {
        socket.once("error", () => resolve(performance.now() - started));
        socket.once("close", () => resolve(performance.now() - started));
      });
      const request = `GET /v4/${curlId}/task HTTP/1.1\r\nHost: x\r\n\r\n`;
      socket.write(request.repeat(20_000));
      // Keep writing a little so the client notices the reset while it is not reading.
      const poke = setInterval(() => socket.write(request), 100);
      const elapsed = await Promise.race([cut, new Promise<number>((r) => setTimeout(() => r(-1), 10_000))]);
      clearInterval(poke);
      expect(elapsed).toBeGreaterThan(0);
      expect(elapsed).toBeLessThan(8000);
      // Other clients are still served.
      expect((await get(`${server.url}/v4/${curlId}/task`)).status).toBe(200);
    } finally {
      socket.destroy();
    }
  });

  it("cuts off a slowloris client after the read timeout while serving others", async () => {
    const { registry, curlId } = setup();
    const server = await start({ provider: registry, readTimeoutMs: 600 });
    const trickle = Array.from({ length: 40 }, (_, i) =>
      i === 0 ? `GET /v4/${curlId}/task HTTP/1.1\r\n` : `X-${i}: y\r\n`,
    );
    const slow = raw(server.port, trickle, { gapMs: 100, maxMs: 5000 });
    const latencies: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t = performance.now();
      expect((await get(`${server.url}/v4/${curlId}/task`)).status).toBe(200);
      latencies.push(performance.now() - t);
    }
    const result = await slow;
    expect(result.closedByServer).toBe(true);
    expect(result.text).toMatch(/^HTTP\/1\.1 408 /);
    expect(result.elapsedMs).toBeLessThan(3000);
    console.log(
      `slowloris cut after ${result.elapsedMs.toFixed(0)} ms; others' latency max ${Math.max(...latencies).toFixed(1)} ms`,
    );
  });

  it("answers a burst of 1000 requests from one address with 200s then 429s, without slowing another address", async () => {
    const { registry, curlId } = setup();
    const server = await start({ provider: registry, throttle: { steadyPerSecond: 40, burst: 60 } });
    // The burst comes from another process (so it does not share this process's event loop with
    // the server), all at once, from 127.0.0.1; a quiet client here uses 127.0.0.3.
    const burstScript = `
      const http = require("node:http");
      const counts = {};
      let left = 1000;
      for (let i = 0; i < 1000; i++) {
        const req = http.get({ host: "127.0.0.1", port: ${server.port}, path: process.argv[1], agent: false }, (res) => {
          res.resume();
          res.on("end", () => { counts[res.statusCode] = (counts[res.statusCode] || 0) + 1; if (--left === 0) console.log(JSON.stringify(counts)); });
        });
        req.on("error", () => { counts.error = (counts.error || 0) + 1; if (--left === 0) console.log(JSON.stringify(counts)); });
      }`;
    const t0 = performance.now();
    const burst = execFileAsync(process.execPath, ["-e", burstScript, `/v4/${curlId}/task`], { encoding: "utf8" });
    const otherLatencies: number[] = [];
    const other = (async () => {
      for (let i = 0; i < 20; i++) {
        const t = performance.now();
        const res = await get(`${server.url}/v4/${curlId}/task`, { localAddress: "127.0.0.3" });
        otherLatencies.push(performance.now() - t);
        expect(res.status).toBe(200);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const [{ stdout }] = await Promise.all([burst, other]);
    const elapsed = performance.now() - t0;
    const counts = JSON.parse(stdout) as Record<string, number>;
    const ok200 = counts["200"] ?? 0;
    const throttled = counts["429"] ?? 0;
    expect(counts).not.toHaveProperty("error");
    expect(ok200 + throttled).toBe(1000);
    expect(ok200).toBeGreaterThanOrEqual(60);
    expect(ok200).toBeLessThan(60 + Math.ceil((elapsed / 1000) * 40) + 2);
    expect(throttled).toBeGreaterThan(0);
    expect((await get(`${server.url}/v4/${curlId}/task`, { localAddress: "127.0.0.3" })).status).toBe(200);
    const sorted = [...otherLatencies].sort((a, b) => a - b);
    console.log(
      `burst: ${ok200} x 200, ${throttled} x 429 in ${elapsed.toFixed(0)} ms; ` +
        `other address p50 ${sorted[10]?.toFixed(1)} ms, p95 ${sorted[18]?.toFixed(1)} ms, max ${sorted[19]?.toFixed(1)} ms`,
    );
  });
});

describe("lifecycle", () => {
  it("binds only the given address, reports ListenFailed for a busy port, and closes with asyncDispose", async () => {
    const { registry, curlId } = setup();
    let port = 0;
    {
      await using server = (await startMetadataServer({ provider: registry }))._unsafeUnwrap();
      port = server.port;
      expect(server.host).toBe("127.0.0.1");
      expect(server.url).toBe(`http://127.0.0.1:${port}`);
      expect((await get(`${server.url}/v4/${curlId}/task`)).status).toBe(200);
      await expect(get(`http://127.0.0.2:${port}/v4/${curlId}/task`)).rejects.toThrow(/ECONNREFUSED/);
      const busy = await startMetadataServer({ provider: registry, port });
      expect(busy.isErr() && busy.error.code).toBe("ListenFailed");
    }
    await expect(get(`http://127.0.0.1:${port}/v4/${curlId}/task`)).rejects.toThrow(/ECONNREFUSED/);
  });

  it("lets an in-flight request finish on close", async () => {
    const { registry, curlId } = setup();
    let release: () => void = () => {};
    const server = (
      await startMetadataServer({
        provider: registry,
        stats: {
          containerStats: (_t, c) =>
            ResultAsync.fromSafePromise(
              new Promise<DockerStats>((resolve) => {
                release = () => resolve(fakeStats(c.runtimeId, c.runtimeName));
              }),
            ),
        },
      })
    )._unsafeUnwrap();
    const pending = get(`${server.url}/v4/${curlId}/stats`);
    await new Promise((r) => setTimeout(r, 100));
    const closed = server.close();
    setTimeout(() => release(), 100);
    const res = await pending;
    expect(res.status).toBe(200);
    expect((await closed).isOk()).toBe(true);
  });

  it("refuses bad options", async () => {
    const registry = createTaskRegistry();
    const bad = await startMetadataServer({ provider: registry, port: 70000 });
    expect(bad.isErr() && bad.error.code).toBe("InvalidInput");
    const badTimeout = await startMetadataServer({ provider: registry, readTimeoutMs: 0 });
    expect(badTimeout.isErr() && badTimeout.error.field).toBe("readTimeoutMs");
  });
});
