"""Host-side tools: the firmware protocol, the device link and the QEMU launcher."""
