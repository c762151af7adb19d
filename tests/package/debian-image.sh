#!/usr/bin/env bash
# debian-image.sh DIR: a plain Debian 12 (bookworm) root made with
# `debootstrap --variant=minbase` from Debian's archive, for tests that must
# run with nothing but Debian's packages. Reused when DIR/.complete exists.
# The host's CA certificates are copied in, so the image reaches the package
# registries through whatever TLS proxy the host trusts.
#   debian-image.sh DIR          make (or reuse) the image
#   debian-image.sh DIR mount    bind /proc, /sys, /dev, /dev/pts into it
#   debian-image.sh DIR umount   undo that (every test calls it on exit)
set -euo pipefail
dir=$1
case ${2:-make} in
mount)
    for m in proc sys dev dev/pts; do
        mountpoint -q "$dir/$m" || mount --bind "/$m" "$dir/$m"
    done
    cp /etc/resolv.conf "$dir/etc/resolv.conf"
    exit 0 ;;
umount)
    for m in dev/pts dev sys proc; do
        mountpoint -q "$dir/$m" && umount -l "$dir/$m"
    done
    exit 0 ;;
esac
[ -f "$dir/.complete" ] && { echo "debian-image: reusing $dir"; exit 0; }
command -v debootstrap >/dev/null || {
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq debootstrap >/dev/null; }
rm -rf "$dir"; mkdir -p "$dir"
t0=$(date +%s)
debootstrap --variant=minbase bookworm "$dir" http://deb.debian.org/debian >"$dir.log" 2>&1 \
    || { tail -20 "$dir.log"; echo "debian-image: debootstrap failed"; exit 1; }
echo "deb http://deb.debian.org/debian-security bookworm-security main" >> "$dir/etc/apt/sources.list"
echo "deb http://deb.debian.org/debian bookworm-updates main" >> "$dir/etc/apt/sources.list"
mkdir -p "$dir/usr/local/share/ca-certificates"
for crt in /usr/local/share/ca-certificates/*.crt; do
    [ -f "$crt" ] && cp "$crt" "$dir/usr/local/share/ca-certificates/"
done
printf '#!/bin/sh\nexit 101\n' > "$dir/usr/sbin/policy-rc.d"; chmod +x "$dir/usr/sbin/policy-rc.d"
touch "$dir/.complete"
echo "debian-image: $dir in $(( $(date +%s) - t0 )) s ($(du -sm "$dir" | cut -f1) MiB)"
