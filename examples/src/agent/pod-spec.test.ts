import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import type { AgentError } from "./errors.js";
import {
  isPod,
  kubernetesQuantity,
  parseTaskFile,
  podToTaskDefinitionJson,
  taskDefinitionFromPod,
} from "./pod-spec.js";
import type { AgentResult } from "./result.js";

const IMAGE = "docker.io/library/busybox-test:latest";

function pod(spec: Record<string, unknown>, metadata: Record<string, unknown> = { name: "web" }) {
  return { apiVersion: "v1", kind: "Pod", metadata, spec: { restartPolicy: "Never", ...spec } };
}

function unwrap<T>(r: AgentResult<T>): T {
  if (!r.ok) throw r.error;
  return r.value;
}

function invalid(value: unknown): AgentError {
  const r = taskDefinitionFromPod(value);
  if (r.ok) throw new Error(`expected a failure, got ${JSON.stringify(r.value)}`);
  expect(r.error.code).toBe("InvalidTaskDefinition");
  return r.error;
}

describe("kubernetesQuantity", () => {
  it("reads decimal, binary and exponent suffixes", () => {
    expect(kubernetesQuantity("500m")).toBe(0.5);
    expect(kubernetesQuantity("1")).toBe(1);
    expect(kubernetesQuantity("0.25")).toBe(0.25);
    expect(kubernetesQuantity("128Mi")).toBe(128 * 2 ** 20);
    expect(kubernetesQuantity("1Gi")).toBe(2 ** 30);
    expect(kubernetesQuantity("1G")).toBe(1e9);
    expect(kubernetesQuantity("64k")).toBe(64_000);
    expect(kubernetesQuantity("1e3")).toBe(1000);
    expect(kubernetesQuantity(2)).toBe(2);
  });

  it("rejects what is not a quantity", () => {
    for (const bad of ["", "1.5.5", "12mi", "MI", "-1", "1 Gi", "1GiB", null, -3, Number.NaN, {}]) {
      expect(kubernetesQuantity(bad)).toBeUndefined();
    }
  });
});

describe("taskDefinitionFromPod", () => {
  it("maps command to entryPoint and args to command, as Kubernetes treats ENTRYPOINT and CMD", () => {
    const def = unwrap(
      taskDefinitionFromPod(
        pod({
          containers: [
            { name: "both", image: IMAGE, command: ["sh", "-c"], args: ["echo hi"] },
            { name: "command", image: IMAGE, command: ["sleep", "5"] },
            { name: "args", image: IMAGE, args: ["-x"] },
            { name: "neither", image: IMAGE },
          ],
        }),
      ),
    );
    const [both, command, args, neither] = def.containerDefinitions;
    expect(both).toMatchObject({ entryPoint: ["sh", "-c"], command: ["echo hi"] });
    // command alone: the image's CMD is dropped (the agent drops it whenever entryPoint is set).
    expect(command?.entryPoint).toEqual(["sleep", "5"]);
    expect(command?.command).toBeUndefined();
    // args alone: the image's ENTRYPOINT stays and gets args as its CMD.
    expect(args?.entryPoint).toBeUndefined();
    expect(args?.command).toEqual(["-x"]);
    expect(neither?.entryPoint).toBeUndefined();
    expect(neither?.command).toBeUndefined();
    expect(def.containerDefinitions.every((c) => c.essential && c.dependsOn.length === 0)).toBe(true);
  });

  it("runs init containers first, in order, each after the previous succeeded; app containers wait for all", () => {
    const def = unwrap(
      taskDefinitionFromPod(
        pod({
          initContainers: [
            { name: "first", image: IMAGE, command: ["true"] },
            { name: "second", image: IMAGE, command: ["true"] },
          ],
          containers: [
            { name: "app", image: IMAGE },
            { name: "helper", image: IMAGE },
          ],
        }),
      ),
    );
    expect(def.family).toBe("web");
    expect(
      def.containerDefinitions.map((c) => ({ name: c.name, essential: c.essential, dependsOn: c.dependsOn })),
    ).toEqual([
      { name: "first", essential: false, dependsOn: [] },
      { name: "second", essential: false, dependsOn: [{ containerName: "first", condition: "SUCCESS" }] },
      {
        name: "app",
        essential: true,
        dependsOn: [
          { containerName: "first", condition: "SUCCESS" },
          { containerName: "second", condition: "SUCCESS" },
        ],
      },
      {
        name: "helper",
        essential: true,
        dependsOn: [
          { containerName: "first", condition: "SUCCESS" },
          { containerName: "second", condition: "SUCCESS" },
        ],
      },
    ]);
  });

  it("maps a sidecar init container (restartPolicy Always) to a START dependency", () => {
    const def = unwrap(
      taskDefinitionFromPod(
        pod({
          initContainers: [
            { name: "proxy", image: IMAGE, restartPolicy: "Always" },
            { name: "migrate", image: IMAGE },
          ],
          containers: [{ name: "app", image: IMAGE }],
        }),
      ),
    );
    expect(def.containerDefinitions.map((c) => c.dependsOn)).toEqual([
      [],
      [{ containerName: "proxy", condition: "START" }],
      [
        { containerName: "proxy", condition: "START" },
        { containerName: "migrate", condition: "SUCCESS" },
      ],
    ]);
  });

  it("converts cpu to ECS units and memory to MiB, and sizes the task as the kubelet sizes the Pod", () => {
    const json = unwrap(
      podToTaskDefinitionJson(
        pod({
          initContainers: [{ name: "init", image: IMAGE, resources: { limits: { cpu: "2", memory: "1Gi" } } }],
          containers: [
            {
              name: "a",
              image: IMAGE,
              resources: { requests: { cpu: "250m" }, limits: { cpu: "1", memory: "128Mi" } },
            },
            { name: "b", image: IMAGE, resources: { limits: { cpu: 1, memory: "1G" } } },
          ],
        }),
      ),
    );
    const containers = json.containerDefinitions as Array<Record<string, unknown>>;
    // The request sets the shares; a limit alone counts as the request.
    expect(containers.map((c) => [c.name, c.cpu, c.memory])).toEqual([
      ["init", 2048, 1024],
      ["a", 256, 128],
      ["b", 1024, 954],
    ]);
    // max(init, sum(app)): cpu max(2048, 1280), memory max(1024, 1082).
    expect(json).toMatchObject({ cpu: "2048", memory: "1082" });
    const def = unwrap(taskDefinitionFromPod(pod({ containers: [{ name: "a", image: IMAGE }] })));
    expect(def.cpu).toBeUndefined();
    expect(def.memory).toBeUndefined();
  });

  it("maps env values, metadata fieldRefs and secretKeyRefs, expanding $(VAR) as Kubernetes does", () => {
    const def = unwrap(
      taskDefinitionFromPod(
        pod(
          {
            containers: [
              {
                name: "app",
                image: IMAGE,
                command: ["echo", "$(GREETING)", "$$(GREETING)", "$(UNKNOWN)"],
                env: [
                  { name: "WHO", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
                  { name: "NS", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
                  { name: "TIER", valueFrom: { fieldRef: { fieldPath: "metadata.labels['tier']" } } },
                  { name: "GREETING", value: "hi $(WHO) in $(NS)" },
                  { name: "EMPTY" },
                  { name: "TOKEN", valueFrom: { secretKeyRef: { name: "db", key: "password" } } },
                ],
                workingDir: "/srv",
                ports: [
                  { containerPort: 8080, name: "http" },
                  { containerPort: 53, protocol: "UDP" },
                ],
              },
            ],
          },
          { name: "web.v1", labels: { tier: "front" } },
        ),
      ),
    );
    expect(def.family).toBe("web-v1");
    const [app] = def.containerDefinitions;
    expect(app?.environment).toEqual([
      ["WHO", "web.v1"],
      ["NS", "default"],
      ["TIER", "front"],
      ["GREETING", "hi web.v1 in default"],
      ["EMPTY", ""],
    ]);
    expect(app?.secrets).toEqual([{ name: "TOKEN", valueFrom: "db/password" }]);
    expect(app?.entryPoint).toEqual(["echo", "hi web.v1 in default", "$(GREETING)", "$(UNKNOWN)"]);
    expect(app?.workingDirectory).toBe("/srv");
    expect(app?.portMappings).toEqual([
      { containerPort: 8080, hostPort: 8080, protocol: "tcp", name: "http" },
      { containerPort: 53, hostPort: 53, protocol: "udp" },
    ]);
  });

  it("maps emptyDir and hostPath volumes and volumeMounts to volumes and mountPoints", () => {
    const def = unwrap(
      taskDefinitionFromPod(
        pod({
          volumes: [
            { name: "shared", emptyDir: {} },
            { name: "data", hostPath: { path: "/srv/data", type: "Directory" } },
          ],
          initContainers: [{ name: "init", image: IMAGE, volumeMounts: [{ name: "shared", mountPath: "/work" }] }],
          containers: [
            {
              name: "app",
              image: IMAGE,
              volumeMounts: [
                { name: "shared", mountPath: "/work", readOnly: true },
                { name: "data", mountPath: "/data", mountPropagation: "None" },
              ],
            },
          ],
        }),
      ),
    );
    expect(def.volumes).toEqual([{ name: "shared" }, { name: "data", sourcePath: "/srv/data" }]);
    expect(def.containerDefinitions.map((c) => c.mountPoints)).toEqual([
      [{ sourceVolume: "shared", containerPath: "/work", readOnly: false }],
      [
        { sourceVolume: "shared", containerPath: "/work", readOnly: true },
        { sourceVolume: "data", containerPath: "/data", readOnly: false },
      ],
    ]);
  });

  it("accepts restartPolicy OnFailure and ignores cluster-only fields and empty ones", () => {
    const value = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "p", namespace: "x", uid: "u", annotations: { a: "b" } },
      spec: {
        restartPolicy: "OnFailure",
        nodeSelector: { disk: "ssd" },
        serviceAccountName: "default",
        dnsPolicy: "ClusterFirst",
        securityContext: {},
        hostNetwork: false,
        containers: [{ name: "a", image: IMAGE, imagePullPolicy: "IfNotPresent", volumeMounts: [], tty: false }],
      },
      status: { phase: "Pending" },
    };
    expect(unwrap(taskDefinitionFromPod(value)).containerDefinitions).toHaveLength(1);
  });

  it("rejects restartPolicy Always, also when it is the unset default", () => {
    const always = invalid(pod({ restartPolicy: "Always", containers: [{ name: "a", image: IMAGE }] }));
    expect(always.field).toBe("spec.restartPolicy");
    expect(always.message).toContain("does not restart containers: set it to Never");
    const unset = invalid({ apiVersion: "v1", kind: "Pod", metadata: { name: "p" }, spec: { containers: [] } });
    expect(unset.message).toContain("not set, so Always");
    expect(invalid(pod({ restartPolicy: "Sometimes", containers: [{ name: "a", image: IMAGE }] })).message).toContain(
      "must be Never or OnFailure",
    );
  });

  it("names each field it cannot map", () => {
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [
        { containers: [{ name: "a", image: IMAGE }], volumes: [{ name: "v", configMap: { name: "c" } }] },
        "spec.volumes[0].configMap",
        "one emptyDir or hostPath volume",
      ],
      [
        { containers: [{ name: "a", image: IMAGE }], volumes: [{ name: "v", emptyDir: { medium: "Memory" } }] },
        "spec.volumes[0].emptyDir.medium",
        "no tmpfs",
      ],
      [
        {
          containers: [{ name: "a", image: IMAGE }],
          volumes: [{ name: "v", hostPath: { path: "/srv", type: "DirectoryOrCreate" } }],
        },
        "spec.volumes[0].hostPath.type",
        "must exist",
      ],
      [
        {
          containers: [{ name: "a", image: IMAGE, volumeMounts: [{ name: "v", mountPath: "/v", subPath: "x" }] }],
          volumes: [{ name: "v", emptyDir: {} }],
        },
        "spec.containers[0].volumeMounts[0].subPath",
        "mount the whole volume",
      ],
      [
        { containers: [{ name: "a", image: IMAGE, volumeMounts: [{ name: "nope", mountPath: "/v" }] }] },
        "spec.containers[0].volumeMounts[0].name",
        "no volume",
      ],
      [{ containers: [{ name: "a", image: IMAGE }], hostNetwork: true }, "spec.hostNetwork", "awsvpc"],
      [{ containers: [{ name: "a", image: IMAGE, tty: true }] }, "spec.containers[0].tty", "remove it"],
      [
        { containers: [{ name: "a", image: IMAGE, livenessProbe: { exec: {} } }] },
        "spec.containers[0].livenessProbe",
        "probes",
      ],
      [
        { containers: [{ name: "a", image: IMAGE, resources: { limits: { "nvidia.com/gpu": 1 } } }] },
        "spec.containers[0].resources.limits.nvidia.com/gpu",
        "not supported",
      ],
      [
        { containers: [{ name: "a", image: IMAGE, resources: { limits: { cpu: "lots" } } }] },
        "spec.containers[0].resources.limits.cpu",
        '"500m"',
      ],
      [
        { containers: [{ name: "a", image: IMAGE, resources: { limits: { memory: "4Mi" } } }] },
        "spec.containers[0].resources.limits.memory",
        "6Mi minimum",
      ],
      [
        { containers: [{ name: "a", image: IMAGE, ports: [{ containerPort: 80, protocol: "SCTP" }] }] },
        "spec.containers[0].ports[0].protocol",
        '"TCP" or "UDP"',
      ],
      [
        { containers: [{ name: "a", image: IMAGE, ports: [{ containerPort: 80, hostPort: 8080 }] }] },
        "spec.containers[0].ports[0].hostPort",
        "must equal containerPort",
      ],
      [
        {
          containers: [
            { name: "a", image: IMAGE, env: [{ name: "X", valueFrom: { configMapKeyRef: { name: "c", key: "k" } } }] },
          ],
        },
        "spec.containers[0].env[0].valueFrom",
        "configMapKeyRef cannot be mapped",
      ],
      [
        {
          containers: [
            {
              name: "a",
              image: IMAGE,
              env: [{ name: "IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } }],
            },
          ],
        },
        "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath",
        "status.podIP",
      ],
      [
        {
          containers: [
            {
              name: "a",
              image: IMAGE,
              env: [{ name: "X", valueFrom: { secretKeyRef: { name: "s", key: "k", optional: true } } }],
            },
          ],
        },
        "spec.containers[0].env[0].valueFrom.secretKeyRef.optional",
        "cannot be honored",
      ],
      [
        {
          containers: [
            {
              name: "a",
              image: IMAGE,
              args: ["$(S)"],
              env: [{ name: "S", valueFrom: { secretKeyRef: { name: "s", key: "k" } } }],
            },
          ],
        },
        "spec.containers[0].args",
        'use "$S"',
      ],
      [{ containers: [{ name: "a", image: IMAGE, restartPolicy: "Always" }] }, "spec.containers[0].restartPolicy", ""],
      [
        {
          initContainers: [{ name: "i", image: IMAGE, restartPolicy: "Never" }],
          containers: [{ name: "a", image: IMAGE }],
        },
        "spec.initContainers[0].restartPolicy",
        "sidecar",
      ],
      [{ containers: [] }, "spec.containers", "non-empty"],
      [{ containers: [{ name: "a" }] }, "spec.containers[0].image", "non-empty string"],
    ];
    for (const [spec, field, text] of cases) {
      const e = invalid(pod(spec));
      expect(e.field, JSON.stringify(spec)).toBe(field);
      expect(e.message).toContain(text);
    }
    expect(invalid({ ...pod({ containers: [{ name: "a", image: IMAGE }] }), apiVersion: "apps/v1" }).field).toBe(
      "apiVersion",
    );
    expect(invalid({ ...pod({ containers: [{ name: "a", image: IMAGE }] }), metadata: {} }).field).toBe(
      "metadata.name",
    );
  });

  it("reports a problem the task model finds, such as a duplicated container name", () => {
    const e = invalid(
      pod({ initContainers: [{ name: "a", image: IMAGE }], containers: [{ name: "a", image: IMAGE }] }),
    );
    expect(e.message).toContain("the Pod converts to an invalid task");
    expect(e.message).toContain("used twice");
  });
});

describe("parseTaskFile", () => {
  it("reads the sample Pod and the sample ECS task definition", () => {
    const root = resolve(import.meta.dirname, "../../tasks");
    const fromPod = unwrap(parseTaskFile(readFileSync(resolve(root, "pod.json"), "utf8")));
    expect(fromPod.family).toBe("berth-pod");
    expect(fromPod.containerDefinitions.map((c) => c.name)).toEqual(["init", "app"]);
    expect(fromPod.containerDefinitions[1]).toMatchObject({
      cpu: 256,
      memory: 64,
      workingDirectory: "/tmp",
      dependsOn: [{ containerName: "init", condition: "SUCCESS" }],
    });
    expect(fromPod.containerDefinitions[1]?.command?.[0]).toContain("hello from berth-pod in demo");
    const fromEcs = unwrap(parseTaskFile(readFileSync(resolve(root, "sample.json"), "utf8")));
    expect(fromEcs.family).toBe("berth-sample");
  });

  it("says YAML must be converted, and tells a Pod from an ECS definition by its kind", () => {
    const yaml = parseTaskFile("apiVersion: v1\nkind: Pod\n");
    expect(!yaml.ok && yaml.error.message).toContain("YAML Pods must be converted to JSON first");
    expect(isPod({ kind: "Pod" })).toBe(true);
    expect(isPod({ family: "x" })).toBe(false);
    const ecs = parseTaskFile(JSON.stringify({ family: "x", containerDefinitions: [] }));
    expect(!ecs.ok && ecs.error.message).toContain("containerDefinitions must be a non-empty array");
  });
});
