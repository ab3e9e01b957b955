from fncache.cli import main

main()
