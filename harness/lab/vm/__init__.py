"""The lab VM, below the vagrant target: the vagrant CLI wrapper, the boot watchdog, the KVM
decision, the reuse fingerprint and the libvirt leftovers — each usable and tested on its own."""
