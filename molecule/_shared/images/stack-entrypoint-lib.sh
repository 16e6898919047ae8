# shellcheck shell=bash
# Shared by the entry points of squaremcp/stack-postgres and stack-mariadb (sourced, not run): the
# VAR / VAR_FILE convention of the official database images.

# file_env VAR [default]: export VAR as itself, or as the content of the file VAR_FILE names (a Compose
# secret under /run/secrets), or the default; both set is an error. VAR_FILE is unset afterwards.
file_env() {
  local var=$1 file_var=${1}_FILE value=${2:-}
  if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
    echo "error: both $var and $file_var are set (but are exclusive)" >&2
    exit 1
  fi
  if [ -n "${!var:-}" ]; then
    value=${!var}
  elif [ -n "${!file_var:-}" ]; then
    value=$(<"${!file_var}")
  fi
  export "$var=$value"
  unset "$file_var"
}
