/**
 * The protobufjs types of the executor API, built once from the schema text
 * in `mesos.proto.ts` (field names kept in snake_case, as Mesos' JSON uses).
 *
 * @module
 */
import protobuf from "protobufjs";
import { MESOS_V1_EXECUTOR_PROTO, MESOS_V1_PROTO } from "./mesos.proto.ts";

/** The loaded root of `mesos.v1` and `mesos.v1.executor`. */
export const MESOS_ROOT: protobuf.Root = (() => {
  const root = new protobuf.Root();
  protobuf.parse(MESOS_V1_PROTO, root, { keepCase: true });
  protobuf.parse(MESOS_V1_EXECUTOR_PROTO, root, { keepCase: true });
  root.resolveAll();
  return root;
})();

/** A message type by its full name (`mesos.v1.TaskInfo`). */
export function mesosType(name: string): protobuf.Type {
  return MESOS_ROOT.lookupType(name);
}

/** `mesos.v1.executor.Call`. */
export const CALL = mesosType("mesos.v1.executor.Call");
/** `mesos.v1.executor.Event`. */
export const EVENT = mesosType("mesos.v1.executor.Event");
/** `mesos.v1.TaskInfo`. */
export const TASK_INFO = mesosType("mesos.v1.TaskInfo");
/** `Event` with `launch.task` as raw bytes. */
export const RAW_LAUNCH_EVENT = mesosType("mesos.v1.executor.RawLaunchEvent");
/** `Event` with only its type, as a number. */
export const RAW_EVENT_TYPE = mesosType("mesos.v1.executor.RawEventType");
/** `Call` with `subscribe.unacknowledged_tasks` as raw bytes. */
export const RAW_SUBSCRIBE_CALL = mesosType("mesos.v1.executor.RawSubscribeCall");

/** Options that turn a decoded message into Mesos' JSON form. */
export const JSON_FORM: protobuf.IConversionOptions = { enums: String, bytes: String, longs: String };
