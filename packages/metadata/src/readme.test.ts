import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  containerMetadataEnv,
  createTaskRegistry,
  MetadataError,
  newEndpointId,
  startMetadataServer,
  type TaskState,
  taskResponseV4,
} from "./index.js";

describe("README usage example", () => {
  it("runs and produces what the README says", async () => {
    // #region usage
    const endpointId = newEndpointId(); // 32 hex digits, 128 random bits

    const env = containerMetadataEnv({ endpointId, credentialsId: "4a2b6c1e-9d7f-4e3a-8b5c-0f1e2d3c4b5a" });
    if (env.isErr()) throw env.error;
    // { ECS_CONTAINER_METADATA_URI_V4: "http://169.254.170.2/v4/<endpointId>",
    //   ECS_CONTAINER_METADATA_URI: "http://169.254.170.2/v3/<endpointId>",
    //   AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: "/v2/credentials/4a2b6c1e-9d7f-4e3a-8b5c-0f1e2d3c4b5a" }

    const task: TaskState = {
      cluster: "default",
      arn: "arn:aws:ecs:us-east-1:123456789012:task/default/b593651c4d6b44a6b2b583f45c957e15",
      family: "web",
      revision: 3,
      desiredStatus: "RUNNING",
      knownStatus: "RUNNING",
      limits: { cpu: 0.25, memory: 512 },
      launchType: "FARGATE",
      networks: [{ mode: "awsvpc", ipv4Addresses: ["10.0.1.58"] }],
      containers: [
        {
          runtimeId: "b593651c4d6b44a6b2b583f45c957e15-3356213583",
          name: "web",
          runtimeName: "web",
          image: "public.ecr.aws/nginx/nginx:1.27",
          imageId: "sha256:7f371357694782356b65c7fd60dd1ca124c47bd5ed1b1ffe7c0e17f562898367",
          desiredStatus: "RUNNING",
          knownStatus: "RUNNING",
          startedAt: "2025-01-17T20:56:26.180347056Z", // nanoseconds survive; a Date works too
        },
      ],
    };

    const body = taskResponseV4(task);
    if (body.isErr()) throw body.error;
    const json = JSON.stringify(body.value);
    // {"Cluster":"default","TaskARN":"arn:...","Family":"web","Revision":"3","DesiredStatus":"RUNNING",
    //  "KnownStatus":"RUNNING","Limits":{"CPU":0.25,"Memory":512},"LaunchType":"FARGATE","Containers":[{
    //  "DockerId":"b593...","Name":"web",...,"Limits":{"CPU":2},"StartedAt":"2025-01-17T20:56:26.180347056Z",
    //  "Type":"NORMAL","Networks":[{"NetworkMode":"awsvpc","IPv4Addresses":["10.0.1.58"]}]}],
    //  "FaultInjectionEnabled":false}

    const bad = taskResponseV4({ ...task, pullStartedAt: "yesterday" });
    if (bad.isErr() && bad.error.code === "InvalidInput") {
      console.error(bad.error.field, bad.error.message); // task.pullStartedAt task.pullStartedAt: "yesterday" is not ...
    }
    // #endregion usage

    // #region server
    const registry = createTaskRegistry();
    const [web] = task.containers;
    if (web === undefined) throw new Error("the task has a container");
    const registered = registry.registerTask(task, { [web.runtimeId]: endpointId });
    if (registered.isErr()) throw registered.error;

    // Loopback by default; give host "169.254.170.2" once that address is on an interface tasks reach.
    const started = await startMetadataServer({ provider: registry, credentials: registry, port: 0 });
    if (started.isErr()) throw started.error; // ListenFailed says why (port in use, address missing)
    await using server = started.value; // closed gracefully at the end of the scope

    const res = await fetch(`${server.url}/v4/${endpointId}/task`);
    const served = await res.json(); // the same JSON as taskResponseV4(task), Containers[0].DockerId === web.runtimeId

    registry.updateContainer(task.arn, web.runtimeId, { knownStatus: "STOPPED", exitCode: 0 });
    const unknown = await fetch(`${server.url}/v4/${newEndpointId()}`); // 404, body: a JSON string, as ECS
    // #endregion server

    expect(served).toStrictEqual(JSON.parse(json));
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(unknown.status).toBe(404);
    const after = (await (await fetch(`${server.url}/v4/${endpointId}`)).json()) as { KnownStatus: string };
    expect(after.KnownStatus).toBe("STOPPED");

    expect(env.value).toStrictEqual({
      ECS_CONTAINER_METADATA_URI_V4: `http://169.254.170.2/v4/${endpointId}`,
      ECS_CONTAINER_METADATA_URI: `http://169.254.170.2/v3/${endpointId}`,
      AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: "/v2/credentials/4a2b6c1e-9d7f-4e3a-8b5c-0f1e2d3c4b5a",
    });
    const parsed = JSON.parse(json);
    expect(Object.keys(parsed)).toStrictEqual([
      "Cluster",
      "TaskARN",
      "Family",
      "Revision",
      "DesiredStatus",
      "KnownStatus",
      "Limits",
      "LaunchType",
      "Containers",
      "FaultInjectionEnabled",
    ]);
    expect(parsed.Revision).toBe("3");
    expect(parsed.Containers[0].Limits).toStrictEqual({ CPU: 2 });
    expect(parsed.Containers[0].StartedAt).toBe("2025-01-17T20:56:26.180347056Z");
    expect(parsed.Containers[0].Networks).toStrictEqual([{ NetworkMode: "awsvpc", IPv4Addresses: ["10.0.1.58"] }]);
    expect(bad.isErr() && MetadataError.is(bad.error) && bad.error.field).toBe("task.pullStartedAt");
  });

  it("is the example README.md shows", () => {
    const self = readFileSync(new URL("./readme.test.ts", import.meta.url), "utf8");
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const end = self.indexOf('} from "./index.js";');
    const importBlock = self.slice(self.lastIndexOf("import {", end), end + '} from "./index.js";'.length);
    const importLine = importBlock
      .replace(/\s*\n\s*/g, " ")
      .replace(", }", " }")
      .replace("./index.js", "@berth/metadata");
    const region = (name: string) => {
      const text = new RegExp(`// #region ${name}\\n([\\s\\S]*?)\\n\\s*// #endregion ${name}`).exec(self)?.[1] ?? "";
      const lines = text.split("\n");
      const indent = Math.min(...lines.filter((l) => l.trim() !== "").map((l) => l.length - l.trimStart().length));
      return lines.map((l) => l.slice(indent)).join("\n");
    };
    const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)\n```/g)].map((m) => m[1]);
    expect(blocks[0]).toBe(`${importLine}\n\n${region("usage")}`);
    expect(blocks[1]).toBe(region("server"));
  });
});
