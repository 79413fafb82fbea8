#!/usr/bin/env bash
# The Linux peer guest for `uniwasm bench peers`, from Debian packages only:
# Debian's kernel, and an initramfs with busybox-static as init, nginx and
# redis-server with the libraries ldd names, and the virtio modules the kernel
# needs for virtio-net. Cached: rebuilt only when a package version changes.
#
#   bench/linux-guest/build.sh <out-dir>     prints the paths of vmlinuz and initramfs
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:?usage: build.sh <out-dir>}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

need() { command -v "$1" >/dev/null 2>&1 || { echo "linux-guest: $1 is missing (apt-get install $2)" >&2; exit 1; }; }
need dpkg-deb dpkg
need apt-get apt
need ldd libc-bin

kernel_pkg="$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')"
[ -n "$kernel_pkg" ] || { echo "linux-guest: no linux-image-amd64 in the package lists (apt-get update)" >&2; exit 1; }
pkgs=("$kernel_pkg" nginx busybox-static redis-server redis-tools)
key="$(for p in "${pkgs[@]}"; do apt-cache policy "$p" | awk '/Candidate:/{print $2}'; done | tr '\n' ' ')$(sha256sum "$here/build.sh" "$here/init" | cut -c1-16 | tr '\n' ' ')"
if [ -f "$out/key" ] && [ "$(cat "$out/key")" = "$key" ] && [ -f "$out/vmlinuz" ] && [ -f "$out/initramfs.gz" ]; then
  echo "$out/vmlinuz $out/initramfs.gz"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download -q "${pkgs[@]}" >/dev/null 2>&1) || { echo "linux-guest: apt-get download ${pkgs[*]} failed" >&2; exit 1; }
mkdir "$work/x"
for d in "$work"/*.deb; do dpkg-deb -x "$d" "$work/x"; done

root="$work/root"
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,www,lib/modules,var/lib/nginx,var/log/nginx,run,usr/sbin,usr/bin}
cp "$work/x/bin/busybox" "$root/bin/busybox"
cp "$work/x/usr/sbin/nginx" "$root/usr/sbin/nginx"
# Debian's redis-server is a link to redis-check-rdb, which looks at its name.
cp "$work/x/usr/bin/redis-check-rdb" "$root/usr/bin/redis-check-rdb"
ln -s redis-check-rdb "$root/usr/bin/redis-server"
# The binaries' libraries, as this machine's loader resolves them (Debian 12, the same release).
for bin in "$root/usr/sbin/nginx" "$root/usr/bin/redis-check-rdb"; do
  LD_LIBRARY_PATH="$work/x/usr/lib/x86_64-linux-gnu" ldd "$bin" | awk '/=>/{print $3} /ld-linux/{print $1}' | while read -r lib; do
    [ -f "$lib" ] || { echo "linux-guest: $(basename "$bin") needs $lib, which is not installed here" >&2; exit 1; }
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
done
mkdir -p "$root/lib64" && cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
kdir="$(ls -d "$work"/x/lib/modules/*)"
for m in drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci net/core/failover drivers/net/net_failover drivers/net/virtio_net; do
  cp "$kdir/kernel/$m.ko" "$root/lib/modules/"
  echo "$(basename "$m").ko" >> "$root/lib/modules/order"
done
cp "$here/init" "$root/init"
chmod +x "$root/init"
echo "root:x:0:0:root:/:/bin/sh" > "$root/etc/passwd"
echo "root:x:0:" > "$root/etc/group"
echo "nogroup:x:65534:" >> "$root/etc/group"
cp "$here/nginx.conf" "$root/etc/nginx.conf"
(cd "$root" && find . | "$work/x/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -6) > "$out/initramfs.gz"
cp "$work"/x/boot/vmlinuz-* "$out/vmlinuz"
echo "$key" > "$out/key"
echo "$out/vmlinuz $out/initramfs.gz"
