# Compiler flags and sources of the mps2plus-an500 board layer (mirrors board.json: core, fpu, float_abi). The
# board is the machine QEMU's mps2-an500 emulates, so it uses the emulated twins' board API (mps2_board.c) and
# is its own twin.
CPU_FLAGS ?= -mcpu=cortex-m7 -mthumb -mfpu=fpv5-d16 -mfloat-abi=hard
BOARD_SRCS := board/startup.c board/board.c board/mps2_board.c
