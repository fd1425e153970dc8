# Writes the text file IN as a C++ raw string constant NAME into OUT, so that
# a build artifact or page (the buffer cache's LLVM IR, the server's web page)
# can be compiled into a library.
file(READ "${IN}" content)
file(WRITE "${OUT}" "// Generated from ${IN} by EmbedText.cmake; do not edit.\n")
file(APPEND "${OUT}" "static const char ${NAME}[] = R\"kiln_embedded(${content})kiln_embedded\";\n")
