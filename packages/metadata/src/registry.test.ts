import { describe, expect, it } from "vitest";
import { newEndpointId } from "./endpoint-id.js";
import { ec2Task, fargateTask } from "./fixtures/models.js";
import { createTaskRegistry } from "./registry.js";
import { registryFromStateFile } from "./state-file.js";
import { AddressThrottle } from "./throttle.js";

const [pause, curl] = ec2Task.containers;
const pauseRuntime = pause?.runtimeId ?? "";
const curlRuntime = curl?.runtimeId ?? "";

describe("createTaskRegistry", () => {
  it("resolves endpoint ids to their container and task, and nothing else", () => {
    const r = createTaskRegistry();
    const a = newEndpointId();
    const b = newEndpointId();
    r.registerTask(ec2Task, { [pauseRuntime]: a, [curlRuntime]: b })._unsafeUnwrap();
    expect(r.lookup(b)._unsafeUnwrap()?.container.name).toBe("curl");
    expect(r.lookup(a)._unsafeUnwrap()?.container.runtimeId).toBe(pauseRuntime);
    expect(r.lookup(a)._unsafeUnwrap()?.task.arn).toBe(ec2Task.arn);
    expect(r.lookup(newEndpointId())._unsafeUnwrap()).toBeUndefined();
    expect(r.lookup(b.toUpperCase())._unsafeUnwrap()).toBeUndefined();
    expect(r.lookup(b.slice(0, 31))._unsafeUnwrap()).toBeUndefined();
    expect(r.lookup("")._unsafeUnwrap()).toBeUndefined();
    expect(r.size).toBe(1);
    expect(r.endpoints(ec2Task.arn)).toStrictEqual({ [pauseRuntime]: a, [curlRuntime]: b });
  });

  it("keeps the same task object until it changes (the server caches JSON per object)", () => {
    const r = createTaskRegistry();
    const id = newEndpointId();
    r.registerTask(ec2Task, { [curlRuntime]: id })._unsafeUnwrap();
    const before = r.lookup(id)._unsafeUnwrap()?.task;
    expect(r.lookup(id)._unsafeUnwrap()?.task).toBe(before);
    r.updateContainer(ec2Task.arn, curlRuntime, { knownStatus: "STOPPED", exitCode: 1 })._unsafeUnwrap();
    const after = r.lookup(id)._unsafeUnwrap();
    expect(after?.task).not.toBe(before);
    expect(after?.container.knownStatus).toBe("STOPPED");
    expect(after?.container.exitCode).toBe(1);
    expect(Object.isFrozen(after?.task)).toBe(true);
  });

  it("updates a container's health in place of its previous state", () => {
    const r = createTaskRegistry();
    const id = newEndpointId();
    r.registerTask(ec2Task, { [curlRuntime]: id })._unsafeUnwrap();
    const since = new Date("2026-11-28T00:00:00.000Z");
    r.updateContainer(ec2Task.arn, curlRuntime, {
      health: { status: "UNHEALTHY", since, exitCode: 1 },
    })._unsafeUnwrap();
    expect(r.lookup(id)._unsafeUnwrap()?.container.health).toEqual({ status: "UNHEALTHY", since, exitCode: 1 });
    r.updateContainer(ec2Task.arn, curlRuntime, { health: { status: "HEALTHY", since } })._unsafeUnwrap();
    expect(r.lookup(id)._unsafeUnwrap()?.container.health).toEqual({ status: "HEALTHY", since });
  });

  it("answers repeated lookups from a cached entry, rebuilt by the first lookup after any change", () => {
    const r = createTaskRegistry();
    const curlId = newEndpointId();
    const pauseId = newEndpointId();
    r.registerTask(ec2Task, { [curlRuntime]: curlId, [pauseRuntime]: pauseId })._unsafeUnwrap();
    const first = r.lookup(curlId)._unsafeUnwrap();
    expect(r.lookup(curlId)._unsafeUnwrap()).toBe(first);
    // A change to the task or to another container of it is visible through every endpoint id.
    r.updateTask(ec2Task.arn, { knownStatus: "STOPPED" })._unsafeUnwrap();
    const afterTask = r.lookup(curlId)._unsafeUnwrap();
    expect(afterTask).not.toBe(first);
    expect(afterTask?.task.knownStatus).toBe("STOPPED");
    expect(afterTask?.container.name).toBe("curl");
    r.updateContainer(ec2Task.arn, pauseRuntime, { knownStatus: "STOPPED", exitCode: 0 })._unsafeUnwrap();
    expect(r.lookup(curlId)._unsafeUnwrap()?.task.containers[0]?.exitCode).toBe(0);
    expect(r.lookup(pauseId)._unsafeUnwrap()?.container.exitCode).toBe(0);
    expect(r.lookup(pauseId)._unsafeUnwrap()?.task).toBe(r.task(ec2Task.arn));
    // A failed update leaves the cached entry as it was.
    const kept = r.lookup(curlId)._unsafeUnwrap();
    expect(r.updateTask(ec2Task.arn, { pullStartedAt: "yesterday" }).isErr()).toBe(true);
    expect(r.lookup(curlId)._unsafeUnwrap()).toBe(kept);
    // Removed and registered again under the same id: the new task, not the cached old one.
    r.removeTask(ec2Task.arn)._unsafeUnwrap();
    expect(r.lookup(curlId)._unsafeUnwrap()).toBeUndefined();
    r.registerTask({ ...ec2Task, family: "again" }, { [curlRuntime]: curlId })._unsafeUnwrap();
    expect(r.lookup(curlId)._unsafeUnwrap()?.task.family).toBe("again");
    expect(r.lookup(pauseId)._unsafeUnwrap()).toBeUndefined();
    r.clear();
    expect(r.lookup(curlId)._unsafeUnwrap()).toBeUndefined();
  });

  it("refuses invalid models, malformed or duplicate ids and unknown containers", () => {
    const r = createTaskRegistry();
    const bad = r.registerTask({ ...ec2Task, pullStartedAt: "yesterday" }, {});
    expect(bad._unsafeUnwrapErr().code).toBe("InvalidInput");
    expect(bad._unsafeUnwrapErr().field).toBe("task.pullStartedAt");
    expect(r.registerTask(ec2Task, { [curlRuntime]: "not-an-id" })._unsafeUnwrapErr().field).toBe(
      `endpoints.${curlRuntime}`,
    );
    expect(r.registerTask(ec2Task, { nope: newEndpointId() })._unsafeUnwrapErr().code).toBe("InvalidInput");
    const id = newEndpointId();
    expect(r.registerTask(ec2Task, { [pauseRuntime]: id, [curlRuntime]: id })._unsafeUnwrapErr().code).toBe(
      "AlreadyExists",
    );
    r.registerTask(ec2Task, { [curlRuntime]: id })._unsafeUnwrap();
    expect(r.registerTask(ec2Task, {})._unsafeUnwrapErr().code).toBe("AlreadyExists");
    const fargateRuntime = fargateTask.containers[0]?.runtimeId ?? "";
    expect(r.registerTask(fargateTask, { [fargateRuntime]: id })._unsafeUnwrapErr().code).toBe("AlreadyExists");
    expect(r.updateTask("arn:nope", { knownStatus: "STOPPED" })._unsafeUnwrapErr().code).toBe("NotFound");
    expect(r.updateContainer(ec2Task.arn, "nope", { knownStatus: "STOPPED" })._unsafeUnwrapErr().code).toBe("NotFound");
    expect(r.updateTask(ec2Task.arn, { knownStatus: "DANCING" as never })._unsafeUnwrapErr().code).toBe("InvalidInput");
    expect(r.task(ec2Task.arn)?.knownStatus).toBe("RUNNING");
  });

  it("forgets a removed task's endpoint ids so they can be reused", () => {
    const r = createTaskRegistry();
    const id = newEndpointId();
    r.registerTask(ec2Task, { [curlRuntime]: id })._unsafeUnwrap();
    r.removeTask(ec2Task.arn)._unsafeUnwrap();
    expect(r.lookup(id)._unsafeUnwrap()).toBeUndefined();
    expect(r.removeTask(ec2Task.arn)._unsafeUnwrapErr().code).toBe("NotFound");
    r.registerTask(ec2Task, { [curlRuntime]: id })._unsafeUnwrap();
    r.clear();
    expect(r.size).toBe(0);
  });

  it("stores and validates credentials", () => {
    const r = createTaskRegistry();
    const creds = {
      roleArn: "arn:aws:iam::1:role/r",
      accessKeyId: "A",
      secretAccessKey: "S",
      sessionToken: "T",
      expiration: "2030-01-01T00:00:00Z",
    };
    r.setCredentials("c-1", { status: "ready", credentials: creds })._unsafeUnwrap();
    expect(r.credentials("c-1")._unsafeUnwrap()).toMatchObject({ status: "ready" });
    expect(r.credentials("c-2")._unsafeUnwrap()).toBeUndefined();
    expect(r.setCredentials("a/b", { status: "uninitialized" })._unsafeUnwrapErr().code).toBe("InvalidInput");
    expect(
      r.setCredentials("c-3", { status: "ready", credentials: { ...creds, accessKeyId: "" } })._unsafeUnwrapErr().field,
    ).toBe("entry.credentials.accessKeyId");
    expect(
      r.setCredentials("c-3", { status: "ready", credentials: { ...creds, expiration: "soon" } })._unsafeUnwrapErr()
        .field,
    ).toBe("entry.credentials.expiration");
    expect(
      r.setCredentials("c-3", { status: "uninitialized", authorizationToken: "a\r\nb" })._unsafeUnwrapErr().field,
    ).toBe("entry.authorizationToken");
    r.removeCredentials("c-1")._unsafeUnwrap();
    expect(r.credentials("c-1")._unsafeUnwrap()).toBeUndefined();
    expect(r.removeCredentials("c-1")._unsafeUnwrapErr().code).toBe("NotFound");
  });
});

describe("registryFromStateFile", () => {
  it("builds a registry from tasks, endpoints and credentials", () => {
    const id = newEndpointId();
    const text = JSON.stringify({
      tasks: [{ task: ec2Task, endpoints: { [curlRuntime]: id } }],
      credentials: [
        {
          id: "c-1",
          credentials: {
            roleArn: "arn:aws:iam::1:role/r",
            accessKeyId: "A",
            secretAccessKey: "S",
            sessionToken: "T",
            expiration: "2030-01-01T00:00:00Z",
          },
        },
        { id: "c-2", authorizationToken: "tok" },
      ],
    });
    const r = registryFromStateFile(text)._unsafeUnwrap();
    expect(r.lookup(id)._unsafeUnwrap()?.container.name).toBe("curl");
    expect(r.credentials("c-2")._unsafeUnwrap()).toStrictEqual({ status: "uninitialized", authorizationToken: "tok" });
  });

  it("names the field that is wrong", () => {
    expect(registryFromStateFile("{")._unsafeUnwrapErr().code).toBe("InvalidInput");
    expect(registryFromStateFile("[]")._unsafeUnwrapErr().field).toBe("$");
    const bad = registryFromStateFile(
      JSON.stringify({ tasks: [{ task: { ...ec2Task, knownStatus: "nope" }, endpoints: {} }] }),
    );
    expect(bad._unsafeUnwrapErr().field).toBe("tasks[0].task.knownStatus");
    expect(registryFromStateFile(JSON.stringify({ credentials: [{ id: "" }] }))._unsafeUnwrapErr().field).toBe(
      "credentials[0].id",
    );
  });
});

describe("AddressThrottle", () => {
  it("allows a burst, then the steady rate, per address, and sweeps full buckets", () => {
    let now = 0;
    const t = new AddressThrottle({ steadyPerSecond: 40, burst: 60 }, () => now);
    let allowed = 0;
    for (let i = 0; i < 100; i++) if (t.take("a")) allowed++;
    expect(allowed).toBe(60);
    expect(t.take("b")).toBe(true);
    now += 100; // 4 tokens
    allowed = 0;
    for (let i = 0; i < 10; i++) if (t.take("a")) allowed++;
    expect(allowed).toBe(4);
    expect(t.size).toBe(2);
    now += 10_000;
    t.sweep();
    expect(t.size).toBe(0);
  });
});
