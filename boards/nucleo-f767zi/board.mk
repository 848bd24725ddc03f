# Compiler flags and sources of the nucleo-f767zi board layer (mirrors board.json: core, fpu, float_abi).
CPU_FLAGS ?= -mcpu=cortex-m7 -mthumb -mfpu=fpv5-d16 -mfloat-abi=hard
BOARD_SRCS := board/startup.c board/board.c board/nucleo144_f7.c board/stm32_board.c board/stm32f7_clock.c
