"""The one attached disk that survives a replacement of the instance: found, formatted on first boot only and
mounted, on database and monitoring nodes alike."""

from __future__ import annotations

DATA_VOLUME_SCRIPT = "/usr/local/sbin/pgp-data-volume"

# Python source of mount_data_volume(mount, label), shared by the member boot script and pgp-data-volume: the one
# attached disk without partitions or a mount.
DATA_VOLUME_SOURCE = r"""
def mount_data_volume(mount, label):
    os.makedirs(mount, exist_ok=True)
    if subprocess.run(["mountpoint", "-q", mount]).returncode == 0:
        return
    # The volume is attached once the instance exists, so it may appear a little after boot.
    for _ in range(60):
        disks = json.loads(subprocess.run(["lsblk", "-J", "-o", "NAME,TYPE,MOUNTPOINT"], check=True,
                                          capture_output=True, text=True).stdout)["blockdevices"]
        free = [d for d in disks if d["type"] == "disk" and not d.get("children") and not d.get("mountpoint")]
        if free:
            break
        time.sleep(5)
    if len(free) != 1:
        sys.exit(f"expected exactly one unused data disk, found {[d['name'] for d in free]}")
    device = "/dev/" + free[0]["name"]
    probe = subprocess.run(["blkid", "-o", "value", "-s", "TYPE", device], capture_output=True, text=True)
    if not probe.stdout.strip():
        subprocess.run(["mkfs.ext4", "-q", "-L", label, device], check=True)
    uuid = subprocess.run(["blkid", "-o", "value", "-s", "UUID", device], check=True, capture_output=True,
                          text=True).stdout.strip()
    with open("/etc/fstab", "a") as fstab:
        fstab.write(f"UUID={uuid} {mount} ext4 defaults,noatime,nofail 0 2\n")
    subprocess.run(["mount", mount], check=True)
"""


def render_data_volume_script() -> str:
    return (
        "#!/usr/bin/python3\n# rendered by pg-platform dataplane: pgp-data-volume MOUNT LABEL OWNER\n"
        "import json, os, pwd, subprocess, sys, time\n"
        + DATA_VOLUME_SOURCE
        + r"""
mount, label, owner = sys.argv[1:4]
mount_data_volume(mount, label)
user = pwd.getpwnam(owner)
os.chown(mount, user.pw_uid, user.pw_gid)
"""
    )
