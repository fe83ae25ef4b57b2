from promptpo.cli import main

main()
