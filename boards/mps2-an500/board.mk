# Compiler flags and sources of the mps2-an500 board layer (QEMU twin of nucleo-f746): the same CPU flags as
# the real board, so the emulator runs exactly the code the board would.
CPU_FLAGS ?= -mcpu=cortex-m7 -mthumb -mfpu=fpv5-sp-d16 -mfloat-abi=hard
BOARD_SRCS := board/startup.c board/board.c board/mps2_board.c
