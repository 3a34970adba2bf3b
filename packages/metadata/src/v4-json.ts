import { err, ok, type Result } from "neverthrow";
import type { MetadataError } from "./errors.js";
import {
  Checker,
  checkTaskShape,
  containerCommon,
  networksOf,
  nonZero,
  omitUndefined,
  taskCommon,
} from "./json-common.js";
import type {
  ClockDriftResponse,
  ContainerResponseV4,
  ContainerState,
  ErrorResponse,
  NetworkResponseV4,
  NetworkState,
  TaskResponseV4,
  TaskState,
} from "./v4-types.js";

/** Options of {@link taskResponseV4} and `taskResponseV3`. */
export interface TaskResponseOptions {
  /**
   * Include `TaskTags`, `ContainerInstanceTags` and (v4) `Errors`, as the `/taskWithTags` path does.
   * Default `false` (the `/task` path).
   */
  readonly withTags?: boolean;
}

const LAUNCH_TYPES: ReadonlySet<string> = new Set(["EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES"]);
const CLOCK_STATUSES: ReadonlySet<string> = new Set(["SYNCHRONIZED", "NOT_SYNCHRONIZED"]);

function networkV4(check: Checker, n: NetworkState, at: string): NetworkResponseV4 {
  return omitUndefined<NetworkResponseV4>({
    NetworkMode: check.optString(`${at}.mode`, n.mode),
    IPv4Addresses: check.strings(`${at}.ipv4Addresses`, n.ipv4Addresses),
    IPv6Addresses: check.strings(`${at}.ipv6Addresses`, n.ipv6Addresses),
    AttachmentIndex: check.int(`${at}.attachmentIndex`, n.attachmentIndex, 0),
    MACAddress: check.optString(`${at}.macAddress`, n.macAddress),
    IPv4SubnetCIDRBlock: check.optString(`${at}.ipv4SubnetCidrBlock`, n.ipv4SubnetCidrBlock),
    IPv6SubnetCIDRBlock: check.optString(`${at}.ipv6SubnetCidrBlock`, n.ipv6SubnetCidrBlock),
    DomainNameServers: check.strings(`${at}.domainNameServers`, n.domainNameServers),
    DomainNameSearchList: check.strings(`${at}.domainNameSearchList`, n.domainNameSearchList),
    PrivateDNSName: check.optString(`${at}.privateDnsName`, n.privateDnsName),
    SubnetGatewayIpv4Address: check.optString(`${at}.subnetGatewayIpv4Address`, n.subnetGatewayIpv4Address),
    SubnetGatewayIpv6Address: check.optString(`${at}.subnetGatewayIpv6Address`, n.subnetGatewayIpv6Address),
  });
}

function containerV4(
  check: Checker,
  c: ContainerState,
  task: TaskState | undefined,
  path: string,
): ContainerResponseV4 {
  const common = containerCommon(check, c, path, true);
  const container = (c ?? {}) as ContainerState;
  const nets = networksOf(check, container, task, path);
  return omitUndefined<ContainerResponseV4>({
    ...common,
    LogDriver: check.optString(`${path}.logDriver`, container.logDriver),
    LogOptions: check.stringMap(`${path}.logOptions`, container.logOptions),
    ContainerARN: check.optString(`${path}.arn`, container.arn),
    Networks: check.list(nets.path, nets.networks, (n, at) => networkV4(check, n, at)),
    Snapshotter: check.optString(`${path}.snapshotter`, container.snapshotter),
    RestartCount: check.int(`${path}.restartCount`, container.restartCount, 0),
  });
}

/**
 * The v4 container response (`GET /v4/{endpointId}`) for one container, exactly as the ECS agent
 * encodes it: its Go struct's keys in their order, omitempty fields left out when empty and the
 * others (e.g. `ImageID`, `Limits`, `Type`) always present. `task` supplies the networks when the
 * container has none of its own.
 *
 * Fails with `InvalidInput` (naming the field) for a malformed model: a bad timestamp, a status
 * outside the agent's set, a non-integer where the agent has an int, and so on.
 */
export function containerResponseV4(
  container: ContainerState,
  task?: TaskState,
): Result<ContainerResponseV4, MetadataError> {
  const check = new Checker();
  const body = containerV4(check, container, task, "container");
  return check.error === undefined ? ok(body) : err(check.error);
}

/**
 * The v4 task response (`GET /v4/{endpointId}/task`, or `/taskWithTags` with `withTags`), exactly
 * as the ECS agent encodes it, containers in the model's order. `FaultInjectionEnabled` is always
 * present (no omitempty in the agent).
 *
 * Fails with `InvalidInput` (naming the field) for a malformed model.
 */
export function taskResponseV4(
  task: TaskState,
  options: TaskResponseOptions = {},
): Result<TaskResponseV4, MetadataError> {
  const check = new Checker();
  checkTaskShape(check, task);
  if (check.error !== undefined) return err(check.error);
  const withTags = options.withTags === true;
  const common = taskCommon(check, task, withTags);
  const containers = task.containers.map((c, i) => containerV4(check, c, task, `task.containers[${i}]`));
  const clock = check.object("task.clockDrift", task.clockDrift);
  const storage = check.object("task.ephemeralStorage", task.ephemeralStorage);
  const body = omitUndefined<TaskResponseV4>({
    ...common,
    LaunchType:
      task.launchType === undefined ? undefined : check.oneOf("task.launchType", task.launchType, LAUNCH_TYPES),
    Errors: withTags
      ? check.list("task.tagErrors", task.tagErrors, (e, at) =>
          omitUndefined<ErrorResponse>({
            ErrorField: check.optString(`${at}.field`, e.field),
            ErrorCode: check.optString(`${at}.code`, e.code),
            ErrorMessage: check.optString(`${at}.message`, e.message),
            StatusCode: nonZero(check.int(`${at}.statusCode`, e.statusCode)),
            RequestId: check.optString(`${at}.requestId`, e.requestId),
            ResourceARN: check.optString(`${at}.resourceArn`, e.resourceArn),
          }),
        )
      : undefined,
    Containers: containers.length === 0 ? undefined : containers,
    VPCID: check.optString("task.vpcId", task.vpcId),
    ServiceName: check.optString("task.serviceName", task.serviceName),
    Group: check.optString("task.group", task.group),
    ClockDrift:
      clock === undefined
        ? undefined
        : omitUndefined<ClockDriftResponse>({
            ClockErrorBound: nonZero(check.number("task.clockDrift.clockErrorBound", clock.clockErrorBound, 0)),
            ReferenceTimestamp: check.time("task.clockDrift.referenceTimestamp", clock.referenceTimestamp),
            ClockSynchronizationStatus:
              clock.synchronizationStatus === undefined
                ? undefined
                : check.oneOf("task.clockDrift.synchronizationStatus", clock.synchronizationStatus, CLOCK_STATUSES),
          }),
    EphemeralStorageMetrics:
      storage === undefined
        ? undefined
        : {
            Utilized: check.requiredInt("task.ephemeralStorage.utilizedMiB", storage.utilizedMiB, 0),
            Reserved: check.requiredInt("task.ephemeralStorage.reservedMiB", storage.reservedMiB, 0),
          },
    FaultInjectionEnabled: check.boolean("task.faultInjectionEnabled", task.faultInjectionEnabled) ?? false,
    AvailabilityZoneID: check.optString("task.availabilityZoneId", task.availabilityZoneId),
  });
  return check.error === undefined ? ok(body) : err(check.error);
}
