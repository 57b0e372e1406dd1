print("pgbackup")
