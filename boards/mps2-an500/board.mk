# Compiler flags of the mps2-an500 board layer (QEMU twin of nucleo-f746): the same CPU flags as the real
# board, so the emulator runs exactly the code the board would.
CPU_FLAGS ?= -mcpu=cortex-m7 -mthumb -mfpu=fpv5-sp-d16 -mfloat-abi=hard
