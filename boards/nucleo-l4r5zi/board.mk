# Compiler flags and sources of the nucleo-l4r5zi board layer (mirrors board.json: core, fpu, float_abi).
CPU_FLAGS ?= -mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard
BOARD_SRCS := board/startup.c board/board.c board/stm32_board.c
