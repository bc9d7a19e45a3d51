import assert from "node:assert/strict";
import { cronFileName, logrotatePlan, type LogrotateSettings } from "../../lib/logrotate/config.ts";

const SETTINGS: LogrotateSettings = {
  command: "/usr/sbin/logrotate",
  configFolder: "/etc/logrotate.d",
  hourlyConfigFolder: "/etc/logrotate.d/hourly",
  cronDirectory: "/etc/cron.d",
  toDirectory: "logs",
  maxageDays: 7,
  count: 20,
  dateformat: "-%Y%m%d%s",
  extrasDateformat: "-%Y%m%d",
  extraFiles: [],
  frequency: "DAILY",
  compressCommand: "",
  uncompressCommand: "",
  compressOptions: "",
  compressExtension: "",
  ignoreOutput: false,
};
const TASK = { taskId: "t1", serviceLog: "/s/t1/service.log", stateFile: "/s/t1/logrotate.status" };

Deno.test("logrotatePlan() writes the originals' directives, the service log block and the extras block", () => {
  const plan = logrotatePlan(TASK, { ...SETTINGS, extraFiles: ["/s/t1/app/*.log", "/s/t1/gc log"] });
  assert.equal(plan.cron, undefined);
  assert.equal(plan.main.path, "/etc/logrotate.d/t1");
  assert.equal(
    plan.main.text,
    "dateext\ncompress\ndaily\ncopytruncate\nnomail\nnosharedscripts\nrotate 20\nmaxage 7\nnotifempty\n\n" +
      '"/s/t1/service.log" {\n  dateformat -%Y%m%d%s\n  olddir logs\n}\n\n' +
      '"/s/t1/app/*.log" "/s/t1/gc log" {\n  dateformat -%Y%m%d\n  missingok\n}\n',
  );
});

Deno.test("logrotatePlan(): a task's WEEKLY frequency wins over the global one; compression settings are written", () => {
  const plan = logrotatePlan({ ...TASK, frequency: "WEEKLY" }, {
    ...SETTINGS,
    frequency: "MONTHLY",
    compressCommand: "/usr/bin/zstd",
    uncompressCommand: "/usr/bin/unzstd",
    compressOptions: "-3 --rm",
    compressExtension: ".zst",
  });
  assert.match(plan.main.text, /^dateext\ncompress\nweekly\n/);
  assert.match(
    plan.main.text,
    /\nnotifempty\ncompresscmd \/usr\/bin\/zstd\nuncompresscmd \/usr\/bin\/unzstd\ncompressoptions -3 --rm\ncompressext \.zst\n/,
  );
});

Deno.test('logrotatePlan(): glob characters in the service log path are escaped; a path with a " is single-quoted', () => {
  const plan = logrotatePlan({ ...TASK, serviceLog: '/s/a"b*[c]?/service.log' }, SETTINGS);
  assert.match(plan.main.text, /\n'\/s\/a"b\\\*\\\[c\\\]\\\?\/service\.log' \{\n/);
});

Deno.test("logrotatePlan() refuses what logrotate cannot read back, naming the value", () => {
  assert.throws(
    () => logrotatePlan({ ...TASK, serviceLog: `/s/'"/service.log` }, SETTINGS),
    /path "\/s\/'\\"\/service.log": holds both ' and ", which logrotate's configuration cannot quote/,
  );
  assert.throws(() => logrotatePlan({ ...TASK, serviceLog: "/s/a\nb" }, SETTINGS), /a line break or NUL/);
  assert.throws(
    () => logrotatePlan(TASK, { ...SETTINGS, toDirectory: "old logs" }),
    /executor.logrotate.to.directory "old logs": logrotate's olddir takes a path without blanks/,
  );
  assert.throws(() => logrotatePlan(TASK, { ...SETTINGS, dateformat: "-%Y # x" }), /logrotate dateformat "-%Y # x"/);
});

Deno.test("logrotatePlan(): EVERY_FIVE_MINUTES goes to a cron-driven config; % and blanks in the command line are escaped", () => {
  const plan = logrotatePlan(
    { taskId: "t.1", serviceLog: "/s/t 1%/service.log", stateFile: "/s/t 1%/logrotate.status" },
    { ...SETTINGS, frequency: "EVERY_FIVE_MINUTES" },
  );
  assert.doesNotMatch(plan.main.text, /service\.log/);
  assert.deepEqual(plan.cron?.configs.map((c) => c.path), ["/etc/logrotate.d/hourly/t.1.EVERY_FIVE_MINUTES"]);
  assert.equal(plan.cron?.cronFile.path, "/etc/cron.d/singularity-logrotate-t_1");
  assert.equal(
    plan.cron?.cronFile.text.split("\n")[1],
    "*/5 * * * * root /usr/sbin/logrotate -f -s '/s/t 1\\%/logrotate.status' " +
      "/etc/logrotate.d/hourly/t.1.EVERY_FIVE_MINUTES",
  );
});

Deno.test("cronFileName() keeps only the characters Debian's cron accepts in /etc/cron.d names", () => {
  assert.equal(
    cronFileName("web-d1-1-0-agent1.example.com-r:1"),
    "singularity-logrotate-web-d1-1-0-agent1_example_com-r_1",
  );
});
