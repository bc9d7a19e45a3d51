/** The version of the four programs, shown by `--version` and in the startup log. */
export const VERSION = "0.1.0";
