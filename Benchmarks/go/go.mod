module greenio-bench/echo

go 1.19
