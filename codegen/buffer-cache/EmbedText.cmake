# Writes the text file IN as a C++ raw string constant NAME into OUT, so that
# a build artifact (the buffer cache's LLVM IR) can be compiled into kilnc.
file(READ "${IN}" content)
file(WRITE "${OUT}" "// Generated from ${IN} by EmbedText.cmake; do not edit.\n")
file(APPEND "${OUT}" "static const char ${NAME}[] = R\"kiln_embedded(${content})kiln_embedded\";\n")
