#!/bin/sh
# A team on one machine: one shared cache directory, group-writable, entries signed.
#
# Shows: how to set up a directory that everyone in a group uses as FNCACHE_DIR:
# owned by the group, mode 2770 (group read/write, setgid so everything created
# inside keeps the group, nobody else can look in), and a team secret in a file
# only its owner can read (0600; fncache refuses a looser one). Prints the lines
# each member exports. Safe to run again: it keeps an existing secret.
#
# Run:  sh examples/team_shared_dir.sh DIR [GROUP] [SECRET_FILE]
#       GROUP defaults to your primary group, SECRET_FILE to ~/.fncache-secret.
#       (Creating DIR under /srv needs sudo; any directory you own works for a try.)
#       A group that is only yours (named after you, no other member) shares nothing:
#       fncache then treats DIR as your private directory.
#
# Umask: members need not change theirs. When the directory's top folder is
# group-writable, fncache clears the group bits of the umask while it writes
# (as `umask 002` would) and makes its folders setgid. Other tools writing in
# DIR should run under `umask 007`.
set -eu

if [ $# -lt 1 ] || [ $# -gt 3 ]; then
    echo "usage: $0 DIR [GROUP] [SECRET_FILE]" >&2
    exit 2
fi
dir=$1
group=${2:-$(id -gn)}
secret_file=${3:-$HOME/.fncache-secret}

if ! getent group "$group" >/dev/null 2>&1; then
    echo "$0: no such group: $group" >&2
    exit 2
fi

if [ "$group" = "$(id -un)" ] && [ -z "$(getent group "$group" | cut -d: -f4)" ]; then
    echo "note: $group is your own private group; pass the team's group to share $dir" >&2
fi

mkdir -p "$dir"
chgrp "$group" "$dir"
chmod 2770 "$dir"

if [ -s "$secret_file" ]; then
    echo "keeping the existing secret in $secret_file"
else
    (umask 077 && head -c 32 /dev/urandom | base64 > "$secret_file")
    echo "wrote a new team secret to $secret_file"
fi
chmod 600 "$secret_file"

cd "$dir" && dir=$(pwd -P) && cd - >/dev/null
secret_file=$(cd "$(dirname "$secret_file")" && pwd -P)/$(basename "$secret_file")
echo "shared directory $dir: group $group, mode $(stat -c %a "$dir")"
echo
echo "# Every member of $group adds these lines (e.g. to ~/.profile). Give each member"
echo "# a copy of the secret over a private channel, kept with chmod 600:"
echo "export FNCACHE_DIR=$dir"
echo "export FNCACHE_SECRET_FILE=$secret_file"
