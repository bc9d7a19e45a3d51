/**
 * The subset of `mesos.v1` and `mesos.v1.executor` the executor and the fake
 * agent need, written from the field tables in the Mesos v1 executor API
 * reference with the real field numbers, types and `required` labels (proto2).
 * Messages the executor only passes through (container, health checks,
 * discovery, ...) are left out: protobuf skips unknown fields on decode, and
 * TaskInfos are echoed back as the raw bytes they arrived in.
 *
 * @module
 */

/** `package mesos.v1`. */
export const MESOS_V1_PROTO = `
syntax = "proto2";
package mesos.v1;

message FrameworkID { required string value = 1; }
message AgentID { required string value = 1; }
message TaskID { required string value = 1; }
message ExecutorID { required string value = 1; }
message ContainerID { required string value = 1; optional ContainerID parent = 2; }
message ResourceProviderID { required string value = 1; }
message TimeInfo { required int64 nanoseconds = 1; }
message DurationInfo { required int64 nanoseconds = 1; }
message Label { required string key = 1; optional string value = 2; }
message Labels { repeated Label labels = 1; }

message Value {
  enum Type { SCALAR = 0; RANGES = 1; SET = 2; TEXT = 3; }
  message Scalar { required double value = 1; }
  message Range { required uint64 begin = 1; required uint64 end = 2; }
  message Ranges { repeated Range range = 1; }
  message Set { repeated string item = 1; }
  message Text { required string value = 1; }
  required Type type = 1;
  optional Scalar scalar = 2;
  optional Ranges ranges = 3;
  optional Set set = 4;
  optional Text text = 5;
}

message Attribute {
  required string name = 1;
  required Value.Type type = 2;
  optional Value.Scalar scalar = 3;
  optional Value.Ranges ranges = 4;
  optional Value.Set set = 6;
  optional Value.Text text = 5;
}

message Resource {
  message AllocationInfo { optional string role = 1; }
  message ReservationInfo {
    enum Type { UNKNOWN = 0; STATIC = 1; DYNAMIC = 2; }
    optional Type type = 4;
    optional string role = 3;
    optional string principal = 1;
    optional Labels labels = 2;
  }
  message RevocableInfo {}
  message SharedInfo {}
  optional ResourceProviderID provider_id = 12;
  required string name = 1;
  required Value.Type type = 2;
  optional Value.Scalar scalar = 3;
  optional Value.Ranges ranges = 4;
  optional Value.Set set = 5;
  optional string role = 6 [default = "*"];
  optional AllocationInfo allocation_info = 11;
  optional ReservationInfo reservation = 8;
  repeated ReservationInfo reservations = 13;
  optional RevocableInfo revocable = 9;
  optional SharedInfo shared = 10;
}

message Environment {
  message Variable {
    enum Type { UNKNOWN = 0; VALUE = 1; SECRET = 2; }
    required string name = 1;
    optional Type type = 3 [default = VALUE];
    optional string value = 2;
  }
  repeated Variable variables = 1;
}

message CommandInfo {
  message URI {
    required string value = 1;
    optional bool executable = 2;
    optional bool extract = 3 [default = true];
    optional bool cache = 4;
    optional string output_file = 5;
  }
  repeated URI uris = 1;
  optional Environment environment = 2;
  optional bool shell = 6 [default = true];
  optional string value = 3;
  repeated string arguments = 7;
  optional string user = 5;
}

message KillPolicy { optional DurationInfo grace_period = 1; }

message ExecutorInfo {
  enum Type { UNKNOWN = 0; DEFAULT = 1; CUSTOM = 2; }
  optional Type type = 15;
  required ExecutorID executor_id = 1;
  optional FrameworkID framework_id = 8;
  optional CommandInfo command = 7;
  repeated Resource resources = 5;
  optional string name = 9;
  optional string source = 10;
  optional bytes data = 4;
  optional DurationInfo shutdown_grace_period = 13;
  optional Labels labels = 14;
}

message FrameworkInfo {
  message Capability {
    enum Type {
      UNKNOWN = 0; REVOCABLE_RESOURCES = 1; TASK_KILLING_STATE = 2; GPU_RESOURCES = 3; SHARED_RESOURCES = 4;
      PARTITION_AWARE = 5; MULTI_ROLE = 6; RESERVATION_REFINEMENT = 7; REGION_AWARE = 8;
    }
    optional Type type = 1;
  }
  required string user = 1;
  required string name = 2;
  optional FrameworkID id = 3;
  optional double failover_timeout = 4 [default = 0.0];
  optional bool checkpoint = 5 [default = false];
  optional string role = 6 [default = "*"];
  repeated string roles = 12;
  optional string hostname = 7;
  optional string principal = 8;
  optional string webui_url = 9;
  repeated Capability capabilities = 10;
  optional Labels labels = 11;
}

message AgentInfo {
  required string hostname = 1;
  optional int32 port = 8 [default = 5051];
  repeated Resource resources = 3;
  repeated Attribute attributes = 5;
  optional AgentID id = 6;
}

message TaskInfo {
  required string name = 1;
  required TaskID task_id = 2;
  required AgentID agent_id = 3;
  repeated Resource resources = 4;
  optional ExecutorInfo executor = 5;
  optional CommandInfo command = 7;
  optional KillPolicy kill_policy = 12;
  optional bytes data = 6;
  optional Labels labels = 10;
  optional DurationInfo max_completion_time = 14;
}

message TaskGroupInfo { repeated TaskInfo tasks = 1; }

enum TaskState {
  TASK_STAGING = 6; TASK_STARTING = 0; TASK_RUNNING = 1; TASK_KILLING = 8; TASK_FINISHED = 2; TASK_FAILED = 3;
  TASK_KILLED = 4; TASK_ERROR = 7; TASK_LOST = 5; TASK_DROPPED = 9; TASK_UNREACHABLE = 10; TASK_GONE = 11;
  TASK_GONE_BY_OPERATOR = 12; TASK_UNKNOWN = 13;
}

message CheckInfo {
  enum Type { UNKNOWN = 0; COMMAND = 1; HTTP = 2; TCP = 3; }
}

message CheckStatusInfo {
  message Command { optional int32 exit_code = 1; }
  message Http { optional uint32 status_code = 1; }
  message Tcp { optional bool succeeded = 1; }
  optional CheckInfo.Type type = 1;
  optional Command command = 2;
  optional Http http = 3;
  optional Tcp tcp = 4;
}

message TaskStatus {
  enum Source { SOURCE_MASTER = 0; SOURCE_AGENT = 1; SOURCE_EXECUTOR = 2; }
  enum Reason {
    REASON_COMMAND_EXECUTOR_FAILED = 0; REASON_CONTAINER_LAUNCH_FAILED = 21; REASON_CONTAINER_LIMITATION = 19;
    REASON_CONTAINER_LIMITATION_DISK = 20; REASON_CONTAINER_LIMITATION_MEMORY = 8; REASON_CONTAINER_PREEMPTED = 17;
    REASON_CONTAINER_UPDATE_FAILED = 22; REASON_MAX_COMPLETION_TIME_REACHED = 33;
    REASON_EXECUTOR_REGISTRATION_TIMEOUT = 23; REASON_EXECUTOR_REREGISTRATION_TIMEOUT = 24;
    REASON_EXECUTOR_TERMINATED = 1; REASON_EXECUTOR_UNREGISTERED = 2; REASON_FRAMEWORK_REMOVED = 3;
    REASON_GC_ERROR = 4; REASON_INVALID_FRAMEWORKID = 5; REASON_INVALID_OFFERS = 6; REASON_IO_SWITCHBOARD_EXITED = 27;
    REASON_MASTER_DISCONNECTED = 7; REASON_RECONCILIATION = 9; REASON_RESOURCES_UNKNOWN = 18;
    REASON_AGENT_DISCONNECTED = 10; REASON_AGENT_DRAINING = 34; REASON_AGENT_REMOVED = 11;
    REASON_AGENT_REMOVED_BY_OPERATOR = 31; REASON_AGENT_REREGISTERED = 32; REASON_AGENT_RESTARTED = 12;
    REASON_AGENT_UNKNOWN = 13; REASON_TASK_KILLED_DURING_LAUNCH = 30; REASON_TASK_CHECK_STATUS_UPDATED = 28;
    REASON_TASK_HEALTH_CHECK_STATUS_UPDATED = 29; REASON_TASK_GROUP_INVALID = 25; REASON_TASK_GROUP_UNAUTHORIZED = 26;
    REASON_TASK_INVALID = 14; REASON_TASK_UNAUTHORIZED = 15; REASON_TASK_UNKNOWN = 16;
  }
  required TaskID task_id = 1;
  required TaskState state = 2;
  optional string message = 4;
  optional Source source = 9;
  optional Reason reason = 10;
  optional bytes data = 3;
  optional AgentID agent_id = 5;
  optional ExecutorID executor_id = 7;
  optional double timestamp = 6;
  optional bytes uuid = 11;
  optional bool healthy = 8;
  optional CheckStatusInfo check_status = 15;
  optional Labels labels = 12;
  optional TimeInfo unreachable_time = 14;
}
`;

/** `package mesos.v1.executor`, plus wire-compatible variants that carry TaskInfos as raw bytes. */
export const MESOS_V1_EXECUTOR_PROTO = `
syntax = "proto2";
package mesos.v1.executor;

message Event {
  enum Type {
    UNKNOWN = 0; SUBSCRIBED = 1; LAUNCH = 2; LAUNCH_GROUP = 8; KILL = 3; ACKNOWLEDGED = 4; MESSAGE = 5; ERROR = 6;
    SHUTDOWN = 7; HEARTBEAT = 9;
  }
  message Subscribed {
    required mesos.v1.ExecutorInfo executor_info = 1;
    required mesos.v1.FrameworkInfo framework_info = 2;
    required mesos.v1.AgentInfo agent_info = 3;
    optional mesos.v1.ContainerID container_id = 4;
  }
  message Launch { required mesos.v1.TaskInfo task = 1; }
  message LaunchGroup { required mesos.v1.TaskGroupInfo task_group = 1; }
  message Kill { required mesos.v1.TaskID task_id = 1; optional mesos.v1.KillPolicy kill_policy = 2; }
  message Acknowledged { required mesos.v1.TaskID task_id = 1; required bytes uuid = 2; }
  message Message { required bytes data = 1; }
  message Error { required string message = 1; }
  optional Type type = 1;
  optional Subscribed subscribed = 2;
  optional Acknowledged acknowledged = 3;
  optional Launch launch = 4;
  optional LaunchGroup launch_group = 8;
  optional Kill kill = 5;
  optional Message message = 6;
  optional Error error = 7;
}

message Call {
  enum Type { UNKNOWN = 0; SUBSCRIBE = 1; UPDATE = 2; MESSAGE = 3; HEARTBEAT = 4; }
  message Subscribe {
    repeated mesos.v1.TaskInfo unacknowledged_tasks = 1;
    repeated Update unacknowledged_updates = 2;
  }
  message Update { required mesos.v1.TaskStatus status = 1; }
  message Message { required bytes data = 2; }
  required mesos.v1.ExecutorID executor_id = 1;
  required mesos.v1.FrameworkID framework_id = 2;
  optional Type type = 3;
  optional Subscribe subscribe = 4;
  optional Update update = 5;
  optional Message message = 6;
}

// Wire-compatible views (length-delimited fields read or written as bytes) so a TaskInfo received in LAUNCH is
// echoed in SUBSCRIBE byte for byte, unknown fields included.
// The event type as a number: proto2 enums are closed, so a type newer than this schema would otherwise be dropped.
message RawEventType { optional int32 type = 1; }
message RawLaunchEvent {
  message Launch { optional bytes task = 1; }
  optional Launch launch = 4;
}
message RawSubscribeCall {
  message Subscribe {
    repeated bytes unacknowledged_tasks = 1;
    repeated Call.Update unacknowledged_updates = 2;
  }
  required mesos.v1.ExecutorID executor_id = 1;
  required mesos.v1.FrameworkID framework_id = 2;
  optional Call.Type type = 3;
  optional Subscribe subscribe = 4;
}
`;
