from promptpo.cli import main

if __name__ == "__main__":  # (spawned evaluation lanes import this module too)
    main()
