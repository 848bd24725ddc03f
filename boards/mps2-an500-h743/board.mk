# Compiler flags and sources of the mps2-an500-h743 board layer (QEMU twin of nucleo-h743zi): the same CPU
# flags as the real board (QEMU's Cortex-M7 has the double-precision FPU).
CPU_FLAGS ?= -mcpu=cortex-m7 -mthumb -mfpu=fpv5-d16 -mfloat-abi=hard
BOARD_SRCS := board/startup.c board/board.c board/mps2_board.c
