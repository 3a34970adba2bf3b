// The AWS SDK for JavaScript v3's container credential providers against berth's server on
// 127.0.0.1 (FULL_URI + authorization token), as a task's SDK would use them.
import { fromHttp } from "@aws-sdk/credential-provider-http";
import { fromContainerMetadata } from "@smithy/credential-provider-imds";
import { afterEach, describe, expect, it } from "vitest";
import { containerMetadataEnv, createTaskRegistry, newEndpointId, startMetadataServer } from "../src/index.js";
import type { MetadataServer } from "../src/server.js";

const ENV_KEYS = [
  "AWS_CONTAINER_CREDENTIALS_FULL_URI",
  "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
  "AWS_CONTAINER_AUTHORIZATION_TOKEN",
] as const;
const savedEnv = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));
const servers: MetadataServer[] = [];

afterEach(async () => {
  for (const k of ENV_KEYS) {
    const v = savedEnv[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  for (const s of servers.splice(0)) await s.close();
});

const expiration = new Date(Date.now() + 3600_000);
expiration.setUTCMilliseconds(0);
const credentials = {
  roleArn: "arn:aws:iam::111122223333:role/berth-task",
  accessKeyId: "ASIAEXAMPLEBERTH",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
  sessionToken: "IQoJb3JpZ2luX2VjEXAMPLE",
  expiration,
};

async function serve(token: string) {
  const registry = createTaskRegistry();
  registry.setCredentials("task-cred-1", { status: "ready", credentials, authorizationToken: token })._unsafeUnwrap();
  registry.setCredentials("task-cred-2", { status: "uninitialized", authorizationToken: token })._unsafeUnwrap();
  const server = (await startMetadataServer({ provider: registry, credentials: registry }))._unsafeUnwrap();
  servers.push(server);
  return server;
}

describe("AWS SDK v3 credential providers", () => {
  it("@aws-sdk/credential-provider-http fromHttp gets the credentials and their expiry over FULL_URI + token", async () => {
    const token = `tok-${newEndpointId()}`;
    const server = await serve(token);
    const env = containerMetadataEnv({
      endpointId: newEndpointId(),
      credentialsFullUri: `${server.url}/v2/credentials/task-cred-1`,
      authorizationToken: token,
    })._unsafeUnwrap();
    const provider = fromHttp({
      awsContainerCredentialsFullUri: env.AWS_CONTAINER_CREDENTIALS_FULL_URI ?? "",
      awsContainerAuthorizationToken: env.AWS_CONTAINER_AUTHORIZATION_TOKEN ?? "",
      maxRetries: 0,
    });
    const got = await provider();
    expect(got.accessKeyId).toBe(credentials.accessKeyId);
    expect(got.secretAccessKey).toBe(credentials.secretAccessKey);
    expect(got.sessionToken).toBe(credentials.sessionToken);
    expect(got.expiration?.getTime()).toBe(expiration.getTime());
  });

  it("fromHttp reads the environment the way a container's SDK does, and fails on a wrong token or unknown id", async () => {
    const token = `tok-${newEndpointId()}`;
    const server = await serve(token);
    process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI = `${server.url}/v2/credentials/task-cred-1`;
    process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN = token;
    const got = await fromHttp({ maxRetries: 0 })();
    expect(got.expiration?.toISOString()).toBe(expiration.toISOString());

    process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN = "not-the-token";
    await expect(fromHttp({ maxRetries: 0 })()).rejects.toThrow(/401/);
    process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN = token;
    process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI = `${server.url}/v2/credentials/unknown`;
    await expect(fromHttp({ maxRetries: 0 })()).rejects.toThrow(/400/);
    process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI = `${server.url}/v2/credentials/task-cred-2`;
    await expect(fromHttp({ maxRetries: 0 })()).rejects.toThrow(/503/);
  });

  it("@smithy/credential-provider-imds fromContainerMetadata accepts 127.0.0.1 FULL_URI and gets the credentials", async () => {
    // Its host allow-list for FULL_URI is {localhost, 127.0.0.1} (the Greengrass hosts), so loopback works.
    const token = `tok-${newEndpointId()}`;
    const server = await serve(token);
    process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI = `${server.url}/v2/credentials/task-cred-1`;
    process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN = token;
    const got = await fromContainerMetadata({ timeout: 2000 })();
    expect(got.accessKeyId).toBe(credentials.accessKeyId);
    expect(got.sessionToken).toBe(credentials.sessionToken);
    expect(got.expiration?.getTime()).toBe(expiration.getTime());

    process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN = "wrong";
    await expect(fromContainerMetadata({ timeout: 2000 })()).rejects.toThrow();
  });
});
