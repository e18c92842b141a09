# BASH_ENV for the steps act runs (tests/workflows/harness.py). act's host runner returns as soon
# as a failing step's process exits and closes the pty before it has read all of it
# (pkg/container/host_environment.go, exec: `err = cmd.Run(); if err != nil { return err }`
# skips the wait for the output copier), so under load the step's last lines, often its
# `::error::`, were lost. A failing step's own shell waits a second before it exits so the copier
# drains the pty; the variable keeps the shells it starts from waiting too. GitHub's runner needs
# none of this: only the tests set BASH_ENV.
if [ -z "${GITML_ACT_DRAIN:-}" ]; then
  export GITML_ACT_DRAIN=1
  trap 'if [ "$?" -ne 0 ]; then sleep 1; fi' EXIT
fi
