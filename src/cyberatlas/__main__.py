from cyberatlas.cli import main

main()
