import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { buildShimLoggerUri, LogShimError, parseShimLoggerUri, shimLoggerOptionsFromEcs } from "./index.js";

// The README's usage example is the region below (plus this file's import line, with the package name): this test
// runs it and checks the README shows exactly this code.
const IMPORT_LINE =
  'import { buildShimLoggerUri, LogShimError, parseShimLoggerUri, shimLoggerOptionsFromEcs } from "./index.js";';

describe("README usage example", () => {
  it("runs", () => {
    // #region readme
    const built = buildShimLoggerUri("/usr/local/bin/shim-loggers-for-containerd", {
      containerId: "c0ffee",
      containerName: "web",
      mode: "non-blocking",
      maxBufferSize: "10m",
      driver: { name: "awslogs", group: "/ecs/web", region: "us-east-1", stream: "ecs/web/1234567890abcdef0" },
    });
    if (built.isErr()) throw built.error; // a LogShimError: .code, .option, .message say what to fix
    const uri = built.value;
    // binary:///usr/local/bin/shim-loggers-for-containerd?--awslogs-group=%2Fecs%2Fweb&--awslogs-region=us-east-1
    //   &--awslogs-stream=ecs%2Fweb%2F1234567890abcdef0&--container-id=c0ffee&--container-name=web
    //   &--log-driver=awslogs&--max-buffer-size=10m&--mode=non-blocking
    // Give it to containerd as the task's stdout/stderr URI, e.g. `ctr run --log-uri "$uri" ...`.

    const parsed = parseShimLoggerUri(uri); // Ok({ binaryPath, options }): the same options back

    const bad = buildShimLoggerUri("/usr/local/bin/shim-loggers-for-containerd", {
      containerId: "c0ffee",
      containerName: "web",
      maxBufferSize: "10m", // without mode: "non-blocking"
      driver: { name: "fluentd", async: false },
    });
    const code = bad.isErr() && LogShimError.is(bad.error) ? bad.error.code : undefined; // "ConflictingOptions"

    // From an ECS task definition's logConfiguration, the way the ECS agent reads it:
    const fromEcs = shimLoggerOptionsFromEcs(
      {
        logDriver: "awslogs",
        options: { "awslogs-group": "/ecs/web", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs" },
      },
      {
        containerId: "c0ffee",
        containerName: "web",
        taskArn: "arn:aws:ecs:us-east-1:012345678910:task/default/1234567890abcdef0",
      },
    ).andThen(({ options }) => buildShimLoggerUri("/usr/local/bin/shim-loggers-for-containerd", options));
    // #endregion

    expect(uri).toBe(
      "binary:///usr/local/bin/shim-loggers-for-containerd?--awslogs-group=%2Fecs%2Fweb" +
        "&--awslogs-region=us-east-1&--awslogs-stream=ecs%2Fweb%2F1234567890abcdef0&--container-id=c0ffee" +
        "&--container-name=web&--log-driver=awslogs&--max-buffer-size=10m&--mode=non-blocking",
    );
    expect(parsed._unsafeUnwrap().options).toMatchObject({ mode: "non-blocking", driver: { group: "/ecs/web" } });
    expect(code).toBe("ConflictingOptions");
    expect(fromEcs._unsafeUnwrap()).toContain("--awslogs-stream=ecs%2Fweb%2F1234567890abcdef0");
  });

  it("is shown verbatim in README.md", () => {
    const source = readFileSync(new URL(import.meta.url), "utf8");
    const region = source.slice(source.indexOf("// #region readme\n") + 18, source.indexOf("    // #endregion"));
    const body = region
      .split("\n")
      .map((line) => line.replace(/^ {4}/, ""))
      .join("\n");
    const expected = `${IMPORT_LINE.replace("./index.js", "@berth/log-shim")}\n\n${body}`;
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const block = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBe(expected);
  });
});
