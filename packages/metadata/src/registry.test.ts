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
